"""Row values <-> monday column values, in the JSON shapes monday documents per column type.

Rows are read as JSON (``to_jsonb(row)``), so a value arrives here as str, int,
float, bool, list, dict or None; dates and timestamps arrive as ISO strings. A NULL
field clears its column: ``""`` for the plain-string columns (text, numbers), ``{}``
for the others, as monday's column reference says.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.handlers.monday.countries import BY_NAME, COUNTRIES
from syncd.handlers.monday.settings import ColumnMapping, EntityMapping

# monday refuses longer item names (ItemNameTooLongException).
MAX_ITEM_NAME = 255

_PLAIN = frozenset({"text", "numbers"})
# JSON columns that monday stores with the fields they were written with.
_STORED_AS_SENT = frozenset({"long_text", "email", "phone", "date", "link", "country"})
# What monday adds to a stored JSON value by itself.
_ADDED_BY_MONDAY = frozenset({"changed_at"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PHONE_JUNK = re.compile(r"[\s().\-/]")


class InvalidValue(ValueError):
    """A row value that cannot be written to its column type (a permanent job error)."""


def clear(column_type: str) -> Any:
    return "" if column_type in _PLAIN else {}


def encode(mapping: ColumnMapping, value: Any) -> Any:
    """The value to send for one column, in monday's format for its type."""
    kind = mapping.type
    if value is None or value == "" or value == []:
        return clear(kind)
    if kind == "text":
        return _text(value)
    if kind == "long_text":
        return {"text": _text(value)}
    if kind == "email":
        email = _text(value).strip()
        if "@" not in email:
            raise InvalidValue(f"{email!r} is not an email address")
        return {"email": email, "text": email}
    if kind == "phone":
        return _phone(_text(value), mapping.country)
    if kind == "status":
        return {"label": _text(value)}
    if kind == "date":
        return _date(value)
    if kind == "numbers":
        return _number(value)
    if kind == "link":
        url = _text(value).strip()
        return {"url": url, "text": url}
    if kind == "dropdown":
        labels = value if isinstance(value, list) else _text(value).split(",")
        cleaned = [str(label).strip() for label in labels if str(label).strip()]
        return {"labels": cleaned} if cleaned else clear(kind)
    if kind == "country":
        return _country(_text(value))
    raise InvalidValue(f"unsupported column type {kind!r}")  # pragma: no cover - Literal


def decode(mapping: ColumnMapping, value: str | None, text: str | None, current: Any) -> Any:
    """A row value from monday's column value (``value`` is monday's raw JSON string).

    ``current`` is the row's value now: it decides between a country's code and its
    name, so a pull does not rewrite "United States" as "US".
    """
    raw = _loads(value)
    kind = mapping.type
    if not raw and not text:
        return None
    if kind in ("text", "status"):
        return text or (raw if isinstance(raw, str) else None)
    if kind == "numbers":
        return text or (str(raw) if raw not in (None, "") else None)
    if kind == "long_text":
        return _field(raw, "text") or text
    if kind == "email":
        return _field(raw, "email") or text
    if kind == "phone":
        return _field(raw, "phone") or text
    if kind == "link":
        return _field(raw, "url") or text
    if kind == "dropdown":
        return text
    if kind == "date":
        day, time = _field(raw, "date"), _field(raw, "time")
        if not day:
            return None
        return f"{day}T{time}+00:00" if time else day
    if kind == "country":
        code = _field(raw, "countryCode")
        if not code:
            return None
        wants_name = isinstance(current, str) and len(current.strip()) > 2
        return COUNTRIES.get(code, code) if wants_name else code
    return text  # pragma: no cover - Literal


def holds(mapping: ColumnMapping, sent: Any, found: Mapping[str, Any] | None) -> bool:
    """Whether the item's column already holds what sending `sent` would leave there.

    `sent` is what `encode` made; `found` is the item's ``column_values`` entry for
    the column (``id``, ``type``, ``value``, and ``label`` for a status), as
    `operations.FIND_ITEM_VALUES` asks for it. ``value`` is monday's stored JSON:
    compared with `sent` as monday stores each type, less the fields monday adds
    itself (``changed_at``) and null fields. Any doubt answers False (the column is
    written again): a missing entry, another column type than the mapping's, a value
    that is not the JSON expected, or a type whose stored form does not say what was
    written (a dropdown stores option ids, not labels).
    """
    if found is None or found.get("type") != mapping.type:
        return False
    kind, stored = mapping.type, found.get("value")
    if stored is None:
        return bool(sent == clear(kind))
    if not isinstance(stored, str) or sent == clear(kind):
        return False
    try:
        value = json.loads(stored)
    except ValueError:
        return False
    if kind in _PLAIN:
        return isinstance(value, str) and value == sent
    if not isinstance(value, dict) or not isinstance(sent, dict):
        return False
    if kind == "status":
        # monday stores the label's index; the label itself comes with the value.
        return isinstance(found.get("label"), str) and found.get("label") == sent.get("label")
    if kind not in _STORED_AS_SENT:
        return False
    written = {k: v for k, v in value.items() if v is not None and k not in _ADDED_BY_MONDAY}
    return written == sent


def item_holds(
    mapping: EntityMapping, item: Mapping[str, Any], name: str, values: dict[str, Any]
) -> bool:
    """Whether an update of `item` with the row's name and `values` would change
    nothing (when unsure: False). `item` carries ``name`` and ``column_values``."""
    return not unheld(mapping, item, name, values)


def unheld(
    mapping: EntityMapping, item: Mapping[str, Any], name: str, values: dict[str, Any]
) -> list[str]:
    """The board columns ("name" for the item name) an update would change."""
    stored = item.get("column_values")
    by_column = (
        {cv.get("id"): cv for cv in stored if isinstance(cv, dict)}
        if isinstance(stored, list)
        else {}
    )
    differ = [] if item.get("name") == name else ["name"]
    differ += [
        column.column
        for column in mapping.pushed_columns().values()
        if not holds(column, values[column.column], by_column.get(column.column))
    ]
    return differ


def pulled_values(
    mapping: EntityMapping, item: Mapping[str, Any], row: Mapping[str, Any]
) -> dict[str, Any]:
    """The monday-owned and shared fields (to_npd, both) whose item value differs from
    the row's, decoded as the row would hold them."""
    stored = item.get("column_values")
    by_column = (
        {cv.get("id"): cv for cv in stored if isinstance(cv, dict)}
        if isinstance(stored, list)
        else {}
    )
    theirs = {}
    for field, column in mapping.pulled_columns().items():
        cv = by_column.get(column.column) or {}
        value = decode(column, cv.get("value"), cv.get("text"), row.get(field))
        if value != row.get(field):
            theirs[field] = value
    return theirs


def column_values(mapping: EntityMapping, row: dict[str, Any]) -> dict[str, Any]:
    """The value of every column the CRM writes (direction to_monday or both) for one
    row; the key column is added by the caller. A monday-owned column (to_npd) is
    never sent."""
    values = {}
    for field, column in mapping.pushed_columns().items():
        try:
            values[column.column] = encode(column, row.get(field))
        except InvalidValue as exc:
            where = f"field {field!r} ({column.type} column {column.column})"
            raise InvalidValue(f"{where}: {exc}") from None
    return values


def item_name(mapping: EntityMapping, row: dict[str, Any], fallback: str) -> str:
    """The item-name template filled from the row; NULL fields become empty text."""
    filled = {key: "" if value is None else value for key, value in row.items()}
    try:
        name = " ".join(mapping.item_name.format_map(filled).split())
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidValue(f"item_name template {mapping.item_name!r}: {exc}") from None
    return (name or fallback)[:MAX_ITEM_NAME]


def values_hash(name: str, group_id: str | None, values: dict[str, Any]) -> str:
    """What "unchanged" means: the same name, group and column values as the last push."""
    canonical = json.dumps(
        {"name": name, "group": group_id, "columns": values},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- one column type each ------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _phone(value: str, country: str | None) -> dict[str, str]:
    number = _PHONE_JUNK.sub("", value)
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit() or not 4 <= len(digits) <= 20:
        raise InvalidValue(f"{value!r} is not a phone number")
    encoded = {"phone": number}
    if country:
        encoded["countryShortName"] = country.upper()
    return encoded


def _date(value: Any) -> dict[str, str]:
    text = str(value).strip()
    try:
        if len(text) == 10:
            return {"date": datetime.strptime(text, "%Y-%m-%d").date().isoformat()}
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"{text!r} is not a date") from None
    if moment.tzinfo is not None:
        # monday stores the time in UTC and shows it in each viewer's zone.
        moment = moment.astimezone(UTC)
        return {"date": moment.date().isoformat(), "time": moment.strftime("%H:%M:%S")}
    return {"date": moment.date().isoformat()}


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise InvalidValue(f"{value!r} is not a number")
    text = str(value).strip()
    if not _NUMBER.match(text):
        raise InvalidValue(f"{text!r} is not a number")
    return text


def _country(value: str) -> dict[str, str]:
    text = value.strip()
    code = text.upper() if text.upper() in COUNTRIES else BY_NAME.get(text.casefold())
    if code is None:
        raise InvalidValue(f"{text!r} is not a country name or ISO 3166 code")
    return {"countryCode": code, "countryName": COUNTRIES[code]}


def _loads(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _field(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None
