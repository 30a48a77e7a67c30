"""The [monday] section of syncd.toml: the API, the token, and one mapping per entity type.

A mapping says where one entity type's rows come from (``table``), where they go on
monday.com (``board_id``, ``group_id``), how the item is named (``item_name``, a
template over the row's fields), which board column holds our entity id
(``key_column``, so a retried create can find the item it may already have made),
and which row field feeds which board column (``columns``)::

    [monday.entities.contact]
    table = "contacts"
    board_id = 1234567890
    group_id = "topics"
    item_name = "{first_name} {last_name}"
    key_column = "text_syncd_id"

    [monday.entities.contact.columns]
    email = { column = "email", type = "email" }
    phone = { column = "phone", type = "phone", country = "US" }
    title = { column = "text_title", type = "text" }

Errors raised here carry pydantic's location, so `syncd config check` names the key
(``monday.entities.contact.columns.email.type``).
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from syncd.config import PositiveDuration

# The column types syncd knows how to write (and read back for to_npd).
ColumnType = Literal[
    "text",
    "email",
    "phone",
    "status",
    "date",
    "numbers",
    "long_text",
    "link",
    "dropdown",
    "country",
]

Direction = Literal["to_monday", "to_npd", "both"]
Conflict = Literal["crm_wins", "monday_wins", "newest_wins"]
WebhookEvent = Literal[
    "create_item",
    "change_column_value",
    "change_specific_column_value",
    "item_deleted",
    "item_archived",
]

CREDENTIAL = "monday-token"
WEBHOOK_PATH_CREDENTIAL = "monday-webhook-path"
SIGNING_SECRET_CREDENTIAL = "monday-signing-secret"


def _identifier(value: str) -> str:
    # Names are quoted when used, so any text is safe; these checks only catch typos
    # that would otherwise surface as a confusing SQL error on the first job.
    if not value or "\x00" in value or value != value.strip():
        raise ValueError("must be a non-empty name without surrounding spaces")
    return value


class ColumnMapping(BaseModel):
    """One row field -> one board column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    type: ColumnType
    # phone: the country the number belongs to when it is not written with a
    # leading "+<country code>" (monday validates the pair).
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    # Who owns the field (SPEC §11): to_monday (the CRM: pushed, never pulled),
    # to_npd (monday: pulled, never pushed) or both (the entity's `conflict` decides).
    direction: Direction = "to_monday"

    @model_validator(mode="before")
    @classmethod
    def _pull(cls, data: Any) -> Any:
        # `pull` came before `direction`: pull = true meant "both", pull = false
        # "to_monday". It is still read, and refused when it contradicts direction.
        if not isinstance(data, dict) or "pull" not in data:
            return data
        data = dict(data)
        pull = data.pop("pull")
        if not isinstance(pull, bool):
            raise ValueError("pull: expected true or false (or use direction)")
        implied = "both" if pull else "to_monday"
        if data.setdefault("direction", implied) != implied:
            raise ValueError(
                f"pull = {str(pull).lower()} contradicts direction = {data['direction']!r}; "
                "drop pull (direction replaces it)"
            )
        return data

    @property
    def pushed(self) -> bool:
        return self.direction != "to_npd"

    @property
    def pulled(self) -> bool:
        return self.direction != "to_monday"


class EntityMapping(BaseModel):
    """[monday.entities.<entity_type>]: where one entity type's rows go on monday."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    # The row's primary key: the queue's entity_id is matched against it.
    id_field: str = "id"
    board_id: int = Field(gt=0)
    group_id: str | None = None
    item_name: str = "{id}"
    key_column: str = Field(min_length=1)
    # The row's last change time: `conflict = "newest_wins"` compares it with the
    # item's updated_at.
    updated_at_field: str | None = None
    # Who wins a field of direction "both" that changed on both sides since the last
    # sync. Unset: newest_wins with updated_at_field, else monday_wins (as before
    # `conflict` existed).
    conflict: Conflict | None = None
    # Backfill: the row field that identifies an item whose key column is empty (an
    # item made before syncd): a mapped field (its column is compared) or the one
    # field of the item_name template (the item's name is compared).
    match: str | None = None
    # A to_npd delete (the item was deleted or archived on monday): leave the row
    # ("nothing"), forget the item ("unlink"), or also set `deleted_field` to the
    # time of the deletion ("mark").
    on_item_deleted: Literal["nothing", "unlink", "mark"] = "nothing"
    deleted_field: str | None = None
    # delete jobs archive the item (recoverable for 30 days on monday) or delete it.
    delete: Literal["archive", "delete"] = "archive"
    columns: dict[str, ColumnMapping] = Field(default_factory=dict)

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        for part in value.split("."):
            _identifier(part)
        if value.count(".") > 1:
            raise ValueError("expected a table name or schema.table")
        return value

    @field_validator("id_field", "updated_at_field", "match", "deleted_field")
    @classmethod
    def _field(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value)

    @field_validator("columns")
    @classmethod
    def _fields(cls, value: dict[str, ColumnMapping]) -> dict[str, ColumnMapping]:
        for name in value:
            _identifier(name)
        return value

    @field_validator("item_name")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            fields = template_fields(value)
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        if not fields:
            raise ValueError("must name at least one row field, such as {id}")
        return value

    @model_validator(mode="after")
    def _distinct_columns(self) -> EntityMapping:
        seen: dict[str, str] = {}
        for name, mapping in self.columns.items():
            if mapping.column == self.key_column:
                raise ValueError(
                    f"columns.{name}: board column {mapping.column!r} is the key_column, "
                    "which holds syncd's entity id"
                )
            if mapping.column in seen:
                raise ValueError(
                    f"columns.{name}: board column {mapping.column!r} is already fed by "
                    f"columns.{seen[mapping.column]}"
                )
            seen[mapping.column] = name
        if self.conflict == "newest_wins" and self.updated_at_field is None:
            raise ValueError('conflict = "newest_wins" needs updated_at_field')
        if self.on_item_deleted == "mark" and self.deleted_field is None:
            raise ValueError('on_item_deleted = "mark" needs deleted_field (the field to set)')
        if self.match is not None and self.match_column() is None:
            raise ValueError(
                f"match: {self.match!r} is neither a mapped field (columns) nor the one "
                "field of the item_name template"
            )
        return self

    def match_column(self) -> str | None:
        """The board column a backfill compares `match` with ("name": the item name)."""
        if self.match is None:
            return None
        if self.match in self.columns:
            return self.columns[self.match].column
        if template_fields(self.item_name) == [self.match] and self.item_name == (
            "{" + self.match + "}"
        ):
            return "name"
        return None

    def policy(self) -> Conflict:
        """The conflict rule in force (see `conflict`)."""
        if self.conflict is not None:
            return self.conflict
        return "newest_wins" if self.updated_at_field else "monday_wins"

    def pushed_columns(self) -> dict[str, ColumnMapping]:
        return {f: c for f, c in self.columns.items() if c.pushed}

    def pulled_columns(self) -> dict[str, ColumnMapping]:
        return {f: c for f, c in self.columns.items() if c.pulled}

    def fields(self) -> list[str]:
        """Every row field the mapping reads, in a stable order."""
        wanted = [self.id_field, *template_fields(self.item_name), *self.columns]
        if self.updated_at_field:
            wanted.append(self.updated_at_field)
        if self.match:
            wanted.append(self.match)
        return list(dict.fromkeys(wanted))


def template_fields(template: str) -> list[str]:
    """The row fields an item-name template uses: "{first_name} {last_name}"."""
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ValueError(f"{{{name}}} is not a row field name")
        names.append(name)
    return names


def _default_events() -> list[WebhookEvent]:
    return ["create_item", "change_column_value", "item_deleted", "item_archived"]


class WebhookSettings(BaseModel):
    """[monday.webhooks]: monday's calls into the daemon's HTTP listener (SPEC §11)."""

    model_config = ConfigDict(extra="forbid")

    # The secret path the calls arrive on ("/monday/<random>"): from here, a file, or
    # the systemd credential monday-webhook-path. It is the check when no signing
    # secret is set, so it must be long enough not to be guessed.
    path: SecretStr | None = None
    path_file: Path | None = None
    # The app's signing secret: with it, each call must carry monday's HS256 JWT.
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None
    # Where monday reaches the listener from outside, without the path
    # ("https://syncd.example.com"): `syncd monday webhooks install` registers
    # public_url + path.
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    # The events `syncd monday webhooks install` subscribes each mapped board to.
    events: list[WebhookEvent] = Field(default_factory=_default_events)

    @model_validator(mode="after")
    def _sources(self) -> WebhookSettings:
        if self.path is not None and self.path_file is not None:
            raise ValueError("path and path_file: set one of them, not both")
        if self.signing_secret is not None and self.signing_secret_file is not None:
            raise ValueError("signing_secret and signing_secret_file: set one of them, not both")
        for name in ("path_file", "signing_secret_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} does not exist")
        if self.path is not None:
            _check_path(self.path.get_secret_value())
        if (
            self.path is None
            and self.path_file is None
            and _credential(WEBHOOK_PATH_CREDENTIAL) is None
        ):
            raise ValueError(
                "path: required (set path, path_file, or the systemd credential "
                f"{WEBHOOK_PATH_CREDENTIAL!r})"
            )
        return self

    def resolve_path(self) -> str:
        if self.path is not None:
            return self.path.get_secret_value()
        source = self.path_file or _credential(WEBHOOK_PATH_CREDENTIAL)
        assert source is not None  # _sources
        return _check_path(_read_secret(source, "monday.webhooks.path_file"))

    def resolve_signing_secret(self) -> str | None:
        if self.signing_secret is not None:
            return self.signing_secret.get_secret_value()
        source = self.signing_secret_file or _credential(SIGNING_SECRET_CREDENTIAL)
        return (
            None if source is None else _read_secret(source, "monday.webhooks.signing_secret_file")
        )


def _check_path(path: str) -> str:
    # The receiver compares the last segment in constant time; the rest of the path is
    # only where it hangs, so the secret is that segment and it must be long.
    secret = path.rpartition("/")[2]
    if not path.startswith("/") or len(secret) < 22 or any(c in path for c in "?# \t\n"):
        raise ValueError(
            "path: expected an unguessable URL path such as /monday/<32 random characters> "
            "(its last segment at least 22 characters, starting with /)"
        )
    return path


def _read_secret(path: Path, key: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
    if not text:
        raise ValueError(f"{key}: {path} is empty")
    return text


class ReconcileSettings(BaseModel):
    """[monday.reconcile]: the periodic drift check (off unless `every` is set)."""

    model_config = ConfigDict(extra="forbid")

    every: PositiveDuration | None = None
    # The priority of the jobs a reconcile (or a backfill) enqueues: below the
    # default 0, so that live changes go first.
    priority: int = -10


class MondaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str = Field(default="https://api.monday.com/v2", pattern=r"^https?://")
    api_version: str = Field(default="2026-10", pattern=r"^\d{4}-\d{2}$")
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout: PositiveDuration = 60.0
    # Connections to monday, whatever the queue's concurrency.
    max_connections: int = Field(default=10, ge=1, le=1000)
    # Requests in flight against one board at a time: monday advises against
    # concurrent mutations of one board (they end in 423 board locks).
    board_concurrency: int = Field(default=1, ge=1, le=100)
    # A job waits this long inside its attempt for the budget to refill; a longer
    # wait snoozes the job instead (RateLimited), so a slot is not held idle.
    max_wait: PositiveDuration = 15.0
    # Part of each budget the pacer leaves unspent, for other users of the token.
    reserve: float = Field(default=0.0, ge=0.0, lt=1.0)
    # The longest wait one answer from monday can impose (retry_in_seconds,
    # Retry-After, a board lock): a larger or absurd figure is cut to this, so one
    # bad answer cannot stop the work for days. The daily limit has its own cap,
    # since its honest wait (until midnight UTC) runs up to a day.
    max_pause: PositiveDuration = 3600.0
    max_daily_pause: PositiveDuration = 86400.0
    # How long a locked board is left alone when monday does not say.
    lock_pause: PositiveDuration = 5.0
    # An answer larger than this is cut off and the attempt retried: a sane answer
    # is a few KiB, and the whole body is held in memory to parse it.
    max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    entities: dict[str, EntityMapping] = Field(default_factory=dict)
    webhooks: WebhookSettings | None = None
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)

    @field_validator("entities")
    @classmethod
    def _entity_names(cls, value: dict[str, EntityMapping]) -> dict[str, EntityMapping]:
        for name in value:
            if not name or len(name) > 50:
                raise ValueError(f"entity type {name!r}: must be 1 to 50 characters")
        return value

    @field_validator("token")
    @classmethod
    def _one_header_line(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_token(value.get_secret_value(), "token")
        return value

    @model_validator(mode="after")
    def _token_when_needed(self) -> MondaySettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("token and token_file: set one of them, not both")
        if self.token_file is not None and not self.token_file.is_file():
            raise ValueError(f"token_file: {self.token_file} does not exist")
        if self.entities and not self.has_token():
            raise ValueError(
                "token: required when monday.entities are configured "
                f"(set token, token_file, or the systemd credential {CREDENTIAL!r})"
            )
        if self.token is None and (self.token_file or _credential()):
            # Read now, so that a token that cannot be sent is refused at start (78).
            try:
                self.resolve_token()
            except ValueError as exc:
                raise ValueError(str(exc).removeprefix("monday.")) from None
        return self

    def has_token(self) -> bool:
        return self.token is not None or self.token_file is not None or _credential() is not None

    def resolve_token(self) -> SecretStr:
        """The token from `token`, `token_file` or $CREDENTIALS_DIRECTORY/monday-token.

        Read when the client starts, not at import, so a rotated credential file is
        picked up by a restart without editing the config.
        """
        if self.token is not None:
            return self.token
        path = self.token_file or _credential()
        if path is None:
            raise ValueError(
                f"monday.token: not set (token, token_file or credential {CREDENTIAL!r})"
            )
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"monday.token_file: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValueError(f"monday.token_file: {path} is not UTF-8 text") from None
        if not text:
            raise ValueError(f"monday.token_file: {path} is empty")
        _check_token(text, f"monday.token_file: {path}")
        return SecretStr(text)


def _check_token(token: str, where: str) -> None:
    # The token is sent as a header: a CR or LF in it would end the header early
    # (and aiohttp refuses it only when the first request is made).
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in token):
        raise ValueError(f"{where} holds a control character (a line break?); a token is one line")


def _credential(name: str = CREDENTIAL) -> Path | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None
