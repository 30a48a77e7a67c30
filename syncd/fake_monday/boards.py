"""The fake's data: boards with typed columns and groups, and the items on them.

Column values are checked the way monday checks them: a value in the wrong shape,
a status or dropdown label the column does not have, an unknown country or a
malformed date is refused with a ``ColumnValueException`` carrying the column type.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any


def _countries() -> dict[str, str]:
    text = resources.files(__package__).joinpath("countries.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and line[0] != "#")
    return {code: name for code, name in rows}


COUNTRIES = _countries()


class MondayError(Exception):
    """An application error, reported in monday's error format."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 200,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data or {}


def column_error(column: Column, message: str) -> MondayError:
    return MondayError(
        "ColumnValueException",
        f"invalid value - {message}. Please check our API documentation for the correct "
        "data structure for this column. https://developer.monday.com/api-reference/docs/"
        "change-column-values",
        data={"column_type": column.type, "column_id": column.id},
    )


@dataclass
class Column:
    id: str
    type: str
    title: str = ""
    labels: list[str] = field(default_factory=list)  # status and dropdown columns


@dataclass
class Item:
    id: int
    board_id: int
    group_id: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    state: str = "active"  # active | archived | deleted
    created_at: str = ""
    updated_at: str = ""
    # When each column was last written: monday's ``changed_at`` in stored values.
    changed: dict[str, str] = field(default_factory=dict)
    # When it was made on the monotonic clock the fake's limits run on (benches).
    made: float = field(default_factory=time.monotonic)


@dataclass
class Board:
    id: int
    name: str
    columns: dict[str, Column]
    groups: dict[str, str]  # id -> title


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_PHONE = re.compile(r"^\+?\d{4,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# What changed on an item, for webhooks: ("create" | "change" | "archive" | "delete",
# the item, {column id or "name": (value before, value after)}).
Listener = Callable[[str, "Item", dict[str, tuple[Any, Any]]], None]


class Boards:
    """Every board and item the fake holds."""

    def __init__(self) -> None:
        self.boards: dict[int, Board] = {}
        self.items: dict[int, Item] = {}
        self._next_item = 1_000_000_001
        # Told of every change, through the API or made by a test as a person would.
        self.listeners: list[Listener] = []

    def _tell(self, kind: str, item: Item, changes: dict[str, tuple[Any, Any]]) -> None:
        for listener in self.listeners:
            listener(kind, item, changes)

    def add_board(
        self,
        board_id: int,
        columns: dict[str, str | Column],
        *,
        name: str = "Board",
        groups: dict[str, str] | None = None,
    ) -> Board:
        """A board; `columns` maps a column id to its type (or a full `Column`)."""
        built = {
            cid: spec if isinstance(spec, Column) else Column(cid, spec, cid)
            for cid, spec in columns.items()
        }
        board = Board(board_id, name, built, dict(groups or {"topics": "Group Title"}))
        self.boards[board_id] = board
        return board

    # -- reads ---------------------------------------------------------------------

    def board(self, board_id: Any) -> Board:
        board = self.boards.get(_int(board_id))
        if board is None:
            raise MondayError(
                "InvalidBoardIdException",
                "Board not found",
                data={"board_id": board_id},
            )
        return board

    def item(self, item_id: Any, *, active: bool = True) -> Item:
        item = self.items.get(_int(item_id))
        if item is None or item.state == "deleted" or (active and item.state != "active"):
            raise MondayError(
                "InvalidItemIdException",
                "Item not found in board",
                data={"item_id": item_id},
            )
        return item

    def on_board(self, board_id: int, *, state: str = "active") -> list[Item]:
        return [
            i for i in self.items.values() if i.board_id == board_id and state in ("all", i.state)
        ]

    def find(self, board_id: Any, column_id: str, values: list[str]) -> list[Item]:
        board = self.board(board_id)
        if column_id not in board.columns and column_id != "name":
            raise MondayError("InvalidColumnIdException", "This column ID doesn't exist")
        return [
            item
            for item in self.on_board(board.id)
            if (item.name if column_id == "name" else text(board.columns[column_id], item))
            in values
        ]

    # -- writes ----------------------------------------------------------------------

    def create_item(self, board_id: Any, group_id: str | None, name: str, values: Any) -> Item:
        board = self.board(board_id)
        group = group_id or next(iter(board.groups))
        if group not in board.groups:
            raise MondayError(
                "InvalidGroupIdException", "Group not found", data={"group_id": group}
            )
        if len(name) > 255:
            raise MondayError("ItemNameTooLongException", "Item name is too long")
        checked = self._checked(board, values)
        now = _now()
        item = Item(self._next_item, board.id, group, checked.pop("name", name), {}, "active", now)
        item.values, item.updated_at = checked, now
        item.changed = dict.fromkeys(checked, now)
        self._next_item += 1
        self.items[item.id] = item
        self._tell("create", item, {})
        return item

    def change_values(self, board_id: Any, item_id: Any, values: Any) -> Item:
        board = self.board(board_id)
        item = self.item(item_id)
        if item.board_id != board.id:
            raise MondayError("InvalidItemIdException", "Item not found in board")
        checked = self._checked(board, values, updating=item.values)
        changes: dict[str, tuple[Any, Any]] = {
            cid: (item.values.get(cid), checked.get(cid))
            for cid in [*item.values, *(c for c in checked if c not in item.values)]
            if cid != "name" and item.values.get(cid) != checked.get(cid)
        }
        if "name" in checked:
            name = str(checked.pop("name"))
            if name != item.name:
                changes["name"] = (item.name, name)
            item.name = name
        now = _now()
        item.changed = {
            cid: now if item.values.get(cid) != value else item.changed.get(cid, now)
            for cid, value in checked.items()
        }
        item.values = checked
        item.updated_at = now
        if changes:
            self._tell("change", item, changes)
        return item

    def archive(self, item_id: Any) -> Item:
        item = self.item(item_id)
        item.state, item.updated_at = "archived", _now()
        self._tell("archive", item, {})
        return item

    def delete(self, item_id: Any) -> Item:
        item = self.item(item_id, active=False)
        item.state, item.updated_at = "deleted", _now()
        self._tell("delete", item, {})
        return item

    def _checked(
        self, board: Board, values: Any, updating: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if values is None:
            values = {}
        if isinstance(values, str):
            try:
                values = json.loads(values) if values.strip() else {}
            except ValueError:
                raise MondayError(
                    "JsonParseException",
                    "Syntax error in JSON input",
                    status=400,
                    data={"json": values[:100]},
                ) from None
        if not isinstance(values, dict):
            raise MondayError(
                "JsonParseException", "column_values must be a JSON object", status=400
            )
        result = dict(updating or {})
        for column_id, value in values.items():
            if column_id == "name":
                if not isinstance(value, str) or not value:
                    raise MondayError("ColumnValueException", "invalid value - item name")
                result["name"] = value
                continue
            column = board.columns.get(column_id)
            if column is None:
                raise MondayError(
                    "InvalidColumnIdException",
                    "This column ID doesn't exist for the board",
                    data={"column_id": column_id},
                )
            if value in (None, "", {}):
                result.pop(column_id, None)
                continue
            result[column_id] = check(column, value)
        return result


def check(column: Column, value: Any) -> Any:
    """The stored form of `value` for `column`, or a ColumnValueException."""
    kind = column.type
    if kind == "text":
        if isinstance(value, dict | list):
            raise column_error(column, "text columns take a string")
        return str(value)
    if kind == "numbers":
        try:
            float(str(value))
        except ValueError:
            raise column_error(column, f"{value!r} is not a number") from None
        return str(value)
    if not isinstance(value, dict):
        raise column_error(column, f"{kind} columns take a JSON object")
    if kind == "long_text":
        return {"text": str(value.get("text", ""))}
    if kind == "email":
        email = value.get("email")
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise column_error(column, "email is not valid")
        return {"email": email, "text": str(value.get("text") or email)}
    if kind == "phone":
        phone, country = value.get("phone"), value.get("countryShortName")
        if not isinstance(phone, str) or not _PHONE.match(phone):
            raise column_error(column, "phone number is not valid")
        if country is not None and country not in COUNTRIES:
            raise column_error(column, "countryShortName is not valid")
        return {"phone": phone, "countryShortName": country}
    if kind == "status":
        if "label" in value:
            if value["label"] not in column.labels:
                raise column_error(column, "label does not exist in column")
            return {"index": column.labels.index(value["label"]), "label": value["label"]}
        index = value.get("index")
        if not isinstance(index, int) or not 0 <= index < len(column.labels):
            raise column_error(column, "status index does not exist in column")
        return {"index": index, "label": column.labels[index]}
    if kind == "date":
        day, time = value.get("date"), value.get("time")
        if not isinstance(day, str) or not _DATE.match(day) or not _valid_day(day):
            raise column_error(column, "date is not valid (YYYY-MM-DD)")
        if time is not None and (not isinstance(time, str) or not _TIME.match(time)):
            raise column_error(column, "time is not valid (HH:MM:SS)")
        return {"date": day, **({"time": time} if time else {})}
    if kind == "link":
        url = value.get("url")
        if not isinstance(url, str) or not url:
            raise column_error(column, "link needs a url")
        return {"url": url, "text": str(value.get("text") or url)}
    if kind == "dropdown":
        labels = value.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise column_error(column, "dropdown takes a list of labels")
        missing = [label for label in labels if label not in column.labels]
        if missing:
            raise column_error(column, f"dropdown labels {missing} do not exist in column")
        return {"labels": labels}
    if kind == "country":
        code, name = value.get("countryCode"), value.get("countryName")
        if code not in COUNTRIES or COUNTRIES[code] != name:
            raise column_error(column, "country code and name do not match a country")
        return {"countryCode": code, "countryName": name}
    raise column_error(column, f"column type {kind} is not supported by the fake")


def text(column: Column, item: Item) -> str:
    """What monday shows for a column value (the ``text`` field)."""
    value = item.values.get(column.id)
    if value is None:
        return ""
    kind = column.type
    if isinstance(value, str):
        return value
    if kind in ("email",):
        return str(value.get("email", ""))
    if kind == "phone":
        return str(value.get("phone", ""))
    if kind == "status":
        return str(value.get("label", ""))
    if kind == "date":
        return " ".join(x for x in (value.get("date"), value.get("time")) if x)
    if kind == "link":
        return f"{value.get('text')} - {value.get('url')}"
    if kind == "dropdown":
        return ", ".join(value.get("labels", []))
    if kind == "country":
        return str(value.get("countryName", ""))
    if kind == "long_text":
        return str(value.get("text", ""))
    return json.dumps(value)


def raw(column: Column, item: Item) -> str | None:
    """monday's ``value`` field: the stored value as a JSON string, in monday's shape.

    Plain columns (text, numbers) hold a JSON string. The others hold an object to
    which monday adds ``changed_at``; a status keeps only its label's index (and a
    ``post_id``), a dropdown its options' ids, as monday stores them.
    """
    value = item.values.get(column.id)
    if value is None:
        return None
    if isinstance(value, str):
        return json.dumps(value)
    stored = dict(value)
    if column.type == "status":
        stored = {"index": value["index"], "post_id": None}
    elif column.type == "dropdown":
        stored = {"ids": [column.labels.index(label) + 1 for label in value["labels"]]}
    stored["changed_at"] = item.changed.get(column.id, item.updated_at)
    return json.dumps(stored, separators=(",", ":"))


def webhook_value(column: Column, value: Any) -> Any:
    """A stored value as monday's webhook events carry it (``value``, ``previousValue``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"value": value}
    if column.type == "status":
        return {
            "label": {"index": value["index"], "text": value["label"], "is_done": False},
            "post_id": None,
        }
    if column.type == "dropdown":
        return {
            "chosenValues": [
                {"id": column.labels.index(label) + 1, "name": label} for label in value["labels"]
            ]
        }
    return {**value, "changed_at": _now()}


def _valid_day(day: str) -> bool:
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
