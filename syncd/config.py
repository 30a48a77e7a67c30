"""syncd's settings: the only place that reads syncd.toml and SYNCD_* variables.

Sources, strongest first: environment variables ``SYNCD_<SECTION>__<KEY>``, then the
TOML file (``--config``, ``$SYNCD_CONFIG``, ``./syncd.toml``, ``/etc/syncd/syncd.toml``),
then the defaults below. Secrets can also come from files, including systemd
credentials in ``$CREDENTIALS_DIRECTORY``; they are held as SecretStr so that no
log line or ``config show`` ever prints them.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from syncd.handlers.documents.settings import DocumentSettings
from syncd.handlers.monday.settings import MondaySettings
from syncd.web.settings import WebSettings

SEARCH_PATH = (Path("syncd.toml"), Path("/etc/syncd/syncd.toml"))
EX_CONFIG = 78  # sysexits.h: the unit file's RestartPreventExitStatus

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: Any) -> Any:
    """Accept 90, 90.0, "90", "90s", "15m", "24h" or "7d" for a duration."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*", value)
        if not match:
            raise ValueError("expected seconds or a duration such as 30s, 15m, 24h, 7d")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


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
    connect_timeout: PositiveSeconds = 10.0
    # PgBouncer in transaction mode cannot keep prepared statements: set to 0 there.
    statement_cache_size: int = Field(default=1024, ge=0)
    # Pooled connections: how long sent bytes may go unacknowledged (TCP_USER_TIMEOUT)
    # before the connection is given up; 0 leaves it to the kernel (some 15 minutes).
    tcp_user_timeout: Seconds = 60.0


class DaemonSettings(Section):
    concurrency: int = Field(default=20, ge=1, le=10000)
    poll_interval: PositiveSeconds = 30.0
    shutdown_grace: Seconds = 30.0
    rescue_after: PositiveSeconds = 20.0
    # How long a claim may run ahead: jobs claimed in one round trip.
    claim_batch: int = Field(default=100, ge=1, le=10000)
    # Half-open TCP on the listener is noticed after about idle + interval * count.
    # Every connection gets the keepalives; the listener's user timeout is as long.
    keepalive_idle: PositiveSeconds = 5.0
    keepalive_interval: PositiveSeconds = 2.0
    keepalive_count: int = Field(default=3, ge=1)
    reconnect_max_delay: PositiveSeconds = 30.0


class RetrySettings(Section):
    delays: list[Annotated[float, BeforeValidator(_seconds), Field(ge=0)]] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0], min_length=1
    )
    jitter: float = Field(default=0.0, ge=0.0, le=1.0)
    max_attempts: int = Field(default=5, ge=1)


class QueueSettings(Section):
    concurrency: int = Field(default=10, ge=1, le=10000)
    timeout: PositiveSeconds = 120.0
    # False: this process does not work this queue (another deployment does).
    enabled: bool = True


def _documents_queue() -> QueueSettings:
    # Extraction is CPU-bound and runs in worker processes: a few at a time.
    return QueueSettings(concurrency=2, timeout=180.0)


class QueuesSettings(Section):
    sync: QueueSettings = Field(default_factory=QueueSettings)
    documents: QueueSettings = Field(default_factory=_documents_queue)


class RetentionSettings(Section):
    completed_after: Seconds = 7 * 86400.0
    cancelled_after: Seconds = 30 * 86400.0
    # Rows deleted per statement, so pruning never holds long locks or bloats WAL.
    batch_size: int = Field(default=1000, ge=1)
    interval: PositiveSeconds = 300.0


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _lower(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("level"), str):
            data = {**data, "level": data["level"].lower()}
        return data


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
    monday: MondaySettings = Field(default_factory=MondaySettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    web: WebSettings = Field(default_factory=WebSettings)

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
        return (env_settings, init_settings)

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
    """Read and validate the settings; raise ConfigError naming the bad key."""
    config_file = find_config_file(path)
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {config_file}: {exc.strerror}") from None
    _deep_update(values, overrides)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, config_file)) from None
    settings.source = str(config_file) if config_file else None
    return settings


def _deep_update(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _explain(exc: ValidationError, config_file: Path | None) -> str:
    where = f" in {config_file}" if config_file else ""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{key}: {message}")
    return f"invalid config{where}: " + "; ".join(problems)


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced, for `config show`."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = redact_url(settings.database.url.get_secret_value())
    if settings.database.listen_url is not None:
        data["database"]["listen_url"] = redact_url(settings.database.listen_url.get_secret_value())
    return data


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
