"""syncd's settings: the only place that reads syncd.toml and SYNCD_* variables.

Sources, strongest first: environment variables ``SYNCD_<SECTION>__<KEY>``, then the
TOML file (``--config``, ``$SYNCD_CONFIG``, ``./syncd.toml``, ``/etc/syncd/syncd.toml``),
then the defaults below. Secrets can also come from files, including systemd
credentials in ``$CREDENTIALS_DIRECTORY``; they are held as SecretStr so that no
log line or ``config show`` ever prints them.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from syncd import dsn
from syncd.web.settings import WebSettings

if TYPE_CHECKING:
    # For readers and mypy only: at run time these sections are whatever model the
    # `syncd.settings` entry points name, loaded when the config is validated, so
    # that reading the config never imports a handler (aiohttp, the extractor pool).
    from syncd.handlers.documents.settings import DocumentSettings as DocumentsSection
    from syncd.handlers.monday.settings import MondaySettings as MondaySection
else:
    MondaySection = DocumentsSection = BaseModel

SECTIONS_GROUP = "syncd.settings"
# Handlers whose section sits at the top level ([monday], not [handlers.monday]).
BUILT_IN = ("monday", "documents")
SEARCH_PATH = (Path("syncd.toml"), Path("/etc/syncd/syncd.toml"))
EX_CONFIG = 78  # sysexits.h: the unit file's RestartPreventExitStatus

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: Any) -> Any:
    """Accept 90, 90.0, "90", "90s", "500ms", "15m", "24h", "7d" or "2w" for a duration."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*", value)
        if not match:
            raise ValueError("expected seconds or a duration such as 500ms, 30s, 15m, 24h, 7d")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


# Every duration key in syncd.toml, syncd's own and its handlers' alike, is one of these.
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: SecretStr = SecretStr("postgresql:///syncd")
    # A direct URL for LISTEN when `url` goes through PgBouncer in transaction mode.
    listen_url: SecretStr | None = None
    # False: never LISTEN, find work by polling only.
    listen: bool = True
    password: SecretStr | None = None
    password_file: Path | None = None
    pool_size: int = Field(default=10, ge=2, le=1000)
    connect_timeout: PositiveDuration = 10.0
    # PgBouncer in transaction mode cannot keep prepared statements: set to 0 there.
    statement_cache_size: int = Field(default=1024, ge=0)
    # Pooled connections: how long sent bytes may go unacknowledged (TCP_USER_TIMEOUT)
    # before the connection is given up; 0 leaves it to the kernel (some 15 minutes).
    tcp_user_timeout: Duration = 60.0

    @field_validator("url", "listen_url")
    @classmethod
    def _usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            dsn.check(value.get_secret_value())
        return value


class DaemonSettings(Section):
    concurrency: int = Field(default=20, ge=1, le=10000)
    poll_interval: PositiveDuration = 30.0
    shutdown_grace: Duration = 30.0
    rescue_after: PositiveDuration = 20.0
    # How long a claim may run ahead: jobs claimed in one round trip. 200: on no-op
    # jobs, 100 drained some 11k jobs/s and 200 some 14k, 400 no more (README
    # "Benchmarks"); slow jobs are never claimed ahead, whatever it says.
    claim_batch: int = Field(default=200, ge=1, le=10000)
    # Half-open TCP on the listener is noticed after about idle + interval * count.
    # Every connection gets the keepalives; the listener's user timeout is as long.
    keepalive_idle: PositiveDuration = 5.0
    keepalive_interval: PositiveDuration = 2.0
    keepalive_count: int = Field(default=3, ge=1)
    reconnect_max_delay: PositiveDuration = 30.0


class RetrySettings(Section):
    delays: list[Duration] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0], min_length=1
    )
    jitter: float = Field(default=0.0, ge=0.0, le=1.0)
    max_attempts: int = Field(default=5, ge=1)


class QueueSettings(Section):
    concurrency: int = Field(default=10, ge=1, le=10000)
    timeout: PositiveDuration = 120.0
    # False: this process does not work this queue (another deployment does).
    enabled: bool = True


def _documents_queue() -> QueueSettings:
    # Extraction is CPU-bound and runs in worker processes: a few at a time.
    return QueueSettings(concurrency=2, timeout=180.0)


class QueuesSettings(Section):
    sync: QueueSettings = Field(default_factory=QueueSettings)
    documents: QueueSettings = Field(default_factory=_documents_queue)


class RetentionSettings(Section):
    completed_after: Duration = 7 * 86400.0
    cancelled_after: Duration = 30 * 86400.0
    # Rows deleted per statement, so pruning never holds long locks or bloats WAL.
    batch_size: int = Field(default=1000, ge=1)
    interval: PositiveDuration = 300.0


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _lower(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("level"), str):
            data = {**data, "level": data["level"].lower()}
        return data


def parse_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9187', '[::1]:9187' or ':9187' (every address) -> (host, port).

    Port 0 asks for any free port (tests)."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)


class HttpSettings(Section):
    """[http]: the daemon's own listener, for /metrics, /healthz, /readyz (SPEC §10)
    and the handlers' routes (monday's webhooks)."""

    # Empty: no listener at all.
    listen: str = "127.0.0.1:9187"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value.strip():
            parse_listen(value)
        return value.strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    queues: QueuesSettings = Field(default_factory=QueuesSettings)
    # The built-in handlers' sections keep the names SPEC §5 gives them; a plugin's
    # section is [handlers.<name>]. Each is validated by the model its package names.
    monday: SerializeAsAny[MondaySection] = Field(default_factory=dict, validate_default=True)
    documents: SerializeAsAny[DocumentsSection] = Field(default_factory=dict, validate_default=True)
    handlers: dict[str, SerializeAsAny[BaseModel]] = Field(
        default_factory=dict, validate_default=True
    )
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)

    # Where the settings came from, for `config show`; not a setting itself.
    source: str | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (_Environment(settings_cls), init_settings)

    @field_validator("monday", "documents", mode="before")
    @classmethod
    def _built_in_section(cls, value: Any, info: ValidationInfo) -> BaseModel:
        name = str(info.field_name)
        model = section_models().get(name)
        if model is None:
            raise ValueError(
                f"no installed package declares the [{name}] section "
                f"(a {SECTIONS_GROUP!r} entry point; is syncd installed?)"
            )
        return model.model_validate(value)

    @field_validator("handlers", mode="before")
    @classmethod
    def _plugin_sections(cls, value: Any) -> dict[str, BaseModel]:
        validated = _plugin_sections_model(tuple(sys.path)).model_validate(value)
        return {name: getattr(validated, name) for name in type(validated).model_fields}

    def handler_settings(self, name: str, model: type[SectionT]) -> SectionT:
        """A plugin's validated [handlers.<name>] section, as the model it declared."""
        section = self.handlers.get(name)
        if not isinstance(section, model):
            raise ConfigError(
                f"handlers.{name}: no {model.__name__} settings; declare it as the "
                f"{SECTIONS_GROUP!r} entry point {name!r}"
            )
        return section

    @model_validator(mode="after")
    def _webhooks_are_served(self) -> Settings:
        # monday's calls arrive on the daemon's HTTP listener: without it they would be
        # refused unseen while the boards' webhooks wait for an answer.
        if getattr(self.monday, "webhooks", None) is not None and not self.http.listen:
            raise ValueError("monday.webhooks needs http.listen: the calls arrive there")
        return self

    def queue(self, name: str) -> QueueSettings:
        """The [queues.<name>] section for queue `name` ("sync" or "documents")."""
        section: QueueSettings = getattr(self.queues, name)
        return section

    def database_url(self) -> str:
        """The connection URL with the password from its file or credential filled in."""
        return _with_password(self.database.url.get_secret_value(), self._db_password())

    def listen_url(self) -> str:
        if self.database.listen_url is None:
            return self.database_url()
        return _with_password(self.database.listen_url.get_secret_value(), self._db_password())

    def _db_password(self) -> str | None:
        if self.database.password is not None:
            return self.database.password.get_secret_value()
        return read_secret(self.database.password_file, "database-password")


class ConfigError(Exception):
    """A config that cannot be used; the message names the key."""


SectionT = TypeVar("SectionT", bound=BaseModel)


def section_models() -> dict[str, type[BaseModel]]:
    """The settings model of every handler that declares one, by section name.

    A package declares its model as an entry point in the `syncd.settings` group
    (``ocr = "acme_ocr.settings:OcrSettings"``); only that module is imported, so
    validating the config loads no handler code. Looked up again when sys.path
    changes (a plugin installed into a running test).
    """
    return _section_models(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _section_models(path: tuple[str, ...]) -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for ep in entry_points(group=SECTIONS_GROUP):
        where = "[" + (ep.name if ep.name in BUILT_IN else f"handlers.{ep.name}") + "]"
        try:
            model = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"the settings of handler plugin {ep.name!r} ({ep.value}) for {where} "
                f"failed to load: {exc}"
            ) from None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(
                f"handler plugin {ep.name!r}: {ep.value} is not a pydantic model for {where}"
            )
        models[ep.name] = model
    return models


@functools.lru_cache(maxsize=4)
def _plugin_sections_model(path: tuple[str, ...]) -> type[BaseModel]:
    """[handlers]: one section per plugin model, each validated (defaults included)."""
    fields: dict[str, Any] = {
        name: (SerializeAsAny[model], Field(default_factory=dict, validate_default=True))  # type: ignore[valid-type,misc]
        for name, model in _section_models(path).items()
        if name not in BUILT_IN
    }
    return create_model("HandlerSections", __config__=ConfigDict(extra="forbid"), **fields)


def read_secret(path: Path | str | None, credential: str) -> str | None:
    """A secret from an explicit file, else from the systemd credential `credential`."""
    candidates: list[Path] = []
    if path:
        candidates.append(Path(path))
    elif os.environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(os.environ["CREDENTIALS_DIRECTORY"]) / credential)
    for candidate in candidates:
        try:
            return candidate.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if path:
                raise ConfigError(f"secret file {candidate} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {candidate}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"secret file {candidate} is not UTF-8 text") from None
    return None


def _with_password(url: str, password: str | None) -> str:
    if not password:
        return url
    parts = urlsplit(url)
    if parts.password is not None or not parts.scheme.startswith("postgres"):
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def find_config_file(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    from_env = os.environ.get("SYNCD_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"config file {path} (from $SYNCD_CONFIG) does not exist")
        return path
    for path in SEARCH_PATH:
        if path.is_file():
            return path
    return None


def load(path: str | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigError naming the bad key and
    where its value came from (the file, or the environment variable)."""
    config_file = find_config_file(path)
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values = tomllib.loads(config_file.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{config_file}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#x}); "
                "save it as UTF-8"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {config_file}: {exc.strerror}") from None
    file_values = copy.deepcopy(values)
    _deep_update(values, overrides)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, config_file, file_values)) from None
    except SettingsError:
        raise ConfigError(_unreadable_variable()) from None
    settings.source = str(config_file) if config_file else None
    return settings


class _Environment(EnvSettingsSource):
    """SYNCD_* variables, read against each handler section's own model, so that
    `SYNCD_MONDAY__ENTITIES='{...}'` is decoded as JSON as any table of syncd's is."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if field_name in BUILT_IN and field_name in section_models():
            field = FieldInfo.from_annotation(section_models()[field_name])
        elif field_name == "handlers":
            field = FieldInfo.from_annotation(_plugin_sections_model(tuple(sys.path)))
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class _OneVariable(_Environment):
    """The environment source reading one variable alone, to find the unreadable one."""

    def __init__(self, name: str, value: str) -> None:
        self._only = {name.lower(): value}
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._only


def _variables() -> dict[str, str]:
    prefix = Settings.model_config.get("env_prefix", "")
    return {k: v for k, v in os.environ.items() if k.upper().startswith(prefix)}


def _unreadable_variable() -> str:
    # pydantic-settings names the field, not the variable; try each variable alone.
    for name, value in sorted(_variables().items()):
        try:
            _OneVariable(name, value)()
        except SettingsError:
            return f"invalid config: ${name}: not valid JSON for a list or table: {value[:40]!r}"
    return "invalid config: a SYNCD_* environment variable cannot be parsed"


def _origin(
    loc: tuple[int | str, ...], file_values: dict[str, Any], config_file: Path | None
) -> str:
    """Where the value at `loc` came from: an environment variable, the file, or neither."""
    variables = {name.upper(): name for name in _variables()}
    for depth in range(len(loc), 0, -1):
        name = "SYNCD_" + "__".join(str(part) for part in loc[:depth]).upper()
        if name in variables:
            return f" (from ${variables[name]})"
    node: Any = file_values
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    else:
        return f" (in {config_file})"
    if loc and loc[0] in file_values and config_file is not None:
        return f" (in {config_file})"
    return ""


def _deep_update(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _explain(exc: ValidationError, config_file: Path | None, file_values: dict[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{key}: {message}{_origin(error['loc'], file_values, config_file)}")
    return "invalid config: " + "; ".join(problems)


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced, for `config show`."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = dsn.redact(settings.database.url.get_secret_value())
    if settings.database.listen_url is not None:
        data["database"]["listen_url"] = dsn.redact(settings.database.listen_url.get_secret_value())
    return data
