"""Running real GraphQL documents against the fake's boards, with monday's published schema.

Documents are parsed and validated against ``schema-2026-10.graphql`` (a copy of
``../shared/monday/schema-2026-10.graphql`` shipped with the package) and executed by
graphql-core; resolvers exist for the fields syncd uses (items, items_page_by_column_values,
boards and their items_page, next_items_page, webhooks, me, complexity, create_item,
change_multiple_column_values, change_simple_column_value, archive_item, delete_item,
create_webhook, delete_webhook). Anything else resolves to null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from syncd.fake_monday.boards import Board, Boards, Item, MondayError, raw, text
from syncd.fake_monday.webhooks import Webhook, Webhooks

SCHEMA_FILE = "schema-2026-10.graphql"

# What a root field costs in complexity points, on top of one point per field
# selected. monday does not publish its formula; these keep mutations dearer than
# reads, as they are there.
ROOT_COSTS = {
    "create_item": 1_000,
    "change_multiple_column_values": 1_000,
    "change_simple_column_value": 500,
    "archive_item": 500,
    "delete_item": 500,
    "items_page_by_column_values": 500,
    "items": 100,
    "boards": 100,
    "me": 10,
    "next_items_page": 100,
    "webhooks": 100,
    "create_webhook": 500,
    "delete_webhook": 500,
    "complexity": 0,
}

VALUE_TYPES = {
    "text": "TextValue",
    "email": "EmailValue",
    "phone": "PhoneValue",
    "status": "StatusValue",
    "date": "DateValue",
    "numbers": "NumbersValue",
    "long_text": "LongTextValue",
    "link": "LinkValue",
    "dropdown": "DropdownValue",
    "country": "CountryValue",
}


class HttpFailure(Exception):
    """A resolver's way to answer with an HTTP error (423 for a locked board)."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass
class Context:
    boards: Boards
    complexity: dict[str, int]
    # Raises HttpFailure when a fault locks the board a mutation touches.
    check_lock: Callable[[int], None]
    touched: list[int] = field(default_factory=list)
    webhooks: Webhooks | None = None


def schema_text() -> str:
    return files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def schema() -> Any:
    """monday's schema with the fake's resolvers attached (built once per process)."""
    import graphql  # graphql-core: only the fake needs it

    built = graphql.build_schema(schema_text())
    query, mutation = built.query_type, built.mutation_type
    assert query is not None and mutation is not None
    query.fields["items"].resolve = _items
    query.fields["items_page_by_column_values"].resolve = _find
    query.fields["boards"].resolve = _boards
    query.fields["me"].resolve = lambda _r, _i: {"id": "1", "name": "Fake User"}
    query.fields["next_items_page"].resolve = _next_page
    query.fields["webhooks"].resolve = _webhooks
    mutation.fields["create_webhook"].resolve = _create_webhook
    mutation.fields["delete_webhook"].resolve = _delete_webhook
    query.fields["complexity"].resolve = _complexity
    mutation.fields["complexity"].resolve = _complexity
    mutation.fields["create_item"].resolve = _create_item
    mutation.fields["change_multiple_column_values"].resolve = _change_values
    mutation.fields["change_simple_column_value"].resolve = _change_simple
    mutation.fields["archive_item"].resolve = _archive
    mutation.fields["delete_item"].resolve = _delete
    interface = built.get_type("ColumnValue")
    assert isinstance(interface, graphql.GraphQLInterfaceType)
    interface.resolve_type = lambda value, _info, _type: VALUE_TYPES.get(value["type"], "TextValue")
    return built


def cost(document: Any, operation: Any) -> int:
    """The complexity of one operation: root costs plus one point per selected field."""
    import graphql

    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, graphql.FragmentDefinitionNode)
    }

    def walk(selection_set: Any, root: bool) -> int:
        total = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, graphql.FieldNode):
                total += 1 + (ROOT_COSTS.get(node.name.value, 10) if root else 0)
                total += walk(node.selection_set, False)
            elif isinstance(node, graphql.InlineFragmentNode):
                total += walk(node.selection_set, root)
            elif isinstance(node, graphql.FragmentSpreadNode) and node.name.value in fragments:
                total += walk(fragments[node.name.value].selection_set, root)
        return total

    return walk(operation.selection_set, True)


# -- views: what the default resolver reads ------------------------------------------


class ItemView:
    def __init__(self, item: Item, board: Board) -> None:
        self.id = item.id
        self.name = item.name
        self.state = item.state
        self.created_at = item.created_at
        self.updated_at = item.updated_at
        self.board = BoardView(board)
        self.group = {"id": item.group_id, "title": board.groups.get(item.group_id, "")}
        self._item, self._board = item, board

    def column_values(
        self,
        _info: Any,
        ids: list[str] | None = None,
        types: list[str] | None = None,
        capabilities: Any = None,
    ) -> list[dict[str, Any]]:
        values = []
        for column in self._board.columns.values():
            if ids is not None and column.id not in ids:
                continue
            if types is not None and column.type not in types:
                continue
            shown = text(column, self._item)
            values.append(
                {
                    "id": column.id,
                    "type": column.type,
                    "text": shown,
                    "value": raw(column, self._item),
                    "is_leaf": True,
                    "column": {"id": column.id, "title": column.title, "type": column.type},
                    "label": shown,
                    "email": shown,
                    "phone": shown,
                    "url": self._item.values.get(column.id, {}).get("url")
                    if column.type == "link"
                    else None,
                }
            )
        return values


class BoardView:
    def __init__(self, board: Board) -> None:
        self._board = board
        self.id = board.id
        self.name = board.name
        self.columns = [
            {"id": c.id, "title": c.title, "type": c.type} for c in board.columns.values()
        ]
        self.groups = [{"id": gid, "title": title} for gid, title in board.groups.items()]

    def items_page(
        self, info: Any, limit: int = 25, cursor: str | None = None, **_: Any
    ) -> dict[str, Any]:
        return _page(_ctx(info), self._board.id, 0 if cursor is None else _offset(cursor)[1], limit)


# A cursor names the board and the position after the page it ends. Opaque to
# clients, as monday's are; the items are paged in the order of their ids.
def _cursor(board_id: int, offset: int) -> str:
    return f"fake:{board_id}:{offset}"


def _offset(cursor: str) -> tuple[int, int]:
    try:
        _, board, offset = cursor.split(":")
        return int(board), int(offset)
    except ValueError:
        raise MondayError("CursorException", "CursorExpiredError: invalid cursor") from None


def _page(ctx: Context, board_id: int, offset: int, limit: int) -> dict[str, Any]:
    if not 1 <= limit <= 500:
        raise MondayError("InvalidArgumentException", "limit must be between 1 and 500")
    chosen = sorted(ctx.boards.on_board(board_id), key=lambda i: i.id)[offset : offset + limit]
    following = offset + len(chosen)
    more = following < len(ctx.boards.on_board(board_id))
    return {
        "cursor": _cursor(board_id, following) if more else None,
        "items": [_view(ctx, i) for i in chosen],
    }


def _next_page(_root: Any, info: Any, cursor: str, limit: int = 25) -> dict[str, Any]:
    board_id, offset = _offset(cursor)
    return _page(_ctx(info), board_id, offset, limit)


def _hooks(info: Any) -> Webhooks:
    hooks = _ctx(info).webhooks
    if hooks is None:
        raise MondayError("INTERNAL_SERVER_ERROR", "the fake has no webhooks")
    return hooks


def _hook_view(hook: Webhook) -> dict[str, Any]:
    import json

    config = None if hook.config is None else json.dumps(hook.config)
    return {"id": hook.id, "board_id": hook.board_id, "event": hook.event, "config": config}


def _webhooks(_root: Any, info: Any, board_id: str, **_: Any) -> list[dict[str, Any]]:
    board = _ctx(info).boards.board(board_id)
    return [_hook_view(h) for h in _hooks(info).on_board(board.id)]


async def _create_webhook(
    _root: Any, info: Any, board_id: str, url: str, event: str, config: Any = None
) -> dict[str, Any]:
    import json

    board = _ctx(info).boards.board(board_id)
    if isinstance(config, str):
        config = json.loads(config) if config.strip() else None
    return _hook_view(await _hooks(info).create(board.id, url, event, config))


def _delete_webhook(_root: Any, info: Any, id: str) -> dict[str, Any]:
    return _hook_view(_hooks(info).delete(id))


# -- resolvers -------------------------------------------------------------------------


def _ctx(info: Any) -> Context:
    context: Context = info.context
    return context


def _view(ctx: Context, item: Item) -> ItemView:
    return ItemView(item, ctx.boards.boards[item.board_id])


def _items(_root: Any, info: Any, ids: list[str] | None = None, **_: Any) -> list[ItemView]:
    ctx = _ctx(info)
    found = []
    for item_id in ids or []:
        try:
            found.append(_view(ctx, ctx.boards.item(item_id, active=False)))
        except MondayError:
            continue  # monday leaves out ids it does not have
    return found


def _find(
    _root: Any,
    info: Any,
    board_id: str,
    columns: list[dict[str, Any]] | None = None,
    limit: int = 25,
    **_: Any,
) -> dict[str, Any]:
    ctx = _ctx(info)
    board = ctx.boards.board(board_id)
    matches: list[Item] | None = None
    for rule in columns or []:
        wanted = [str(v) for v in rule["column_values"] if v is not None]
        found = ctx.boards.find(board.id, rule["column_id"], wanted)
        matches = found if matches is None else [i for i in matches if i in found]
    chosen = matches if matches is not None else ctx.boards.on_board(board.id)
    return {"cursor": None, "items": [_view(ctx, i) for i in chosen[:limit]]}


def _boards(_root: Any, info: Any, ids: list[str] | None = None, **_: Any) -> list[BoardView]:
    ctx = _ctx(info)
    chosen = ctx.boards.boards.values() if ids is None else [ctx.boards.board(i) for i in ids]
    return [BoardView(b) for b in chosen]


def _complexity(_root: Any, info: Any) -> dict[str, int]:
    return _ctx(info).complexity


def _create_item(
    _root: Any,
    info: Any,
    board_id: str,
    item_name: str,
    column_values: Any = None,
    group_id: str | None = None,
    **_: Any,
) -> ItemView:
    ctx = _ctx(info)
    board = ctx.boards.board(board_id)
    ctx.check_lock(board.id)
    return _view(ctx, ctx.boards.create_item(board.id, group_id, item_name, column_values))


def _change_values(
    _root: Any, info: Any, board_id: str, column_values: Any, item_id: str | None = None, **_: Any
) -> ItemView:
    ctx = _ctx(info)
    board = ctx.boards.board(board_id)
    ctx.check_lock(board.id)
    return _view(ctx, ctx.boards.change_values(board.id, item_id, column_values))


def _change_simple(
    _root: Any,
    info: Any,
    board_id: str,
    column_id: str,
    value: str | None = None,
    item_id: str | None = None,
    **_: Any,
) -> ItemView:
    ctx = _ctx(info)
    board = ctx.boards.board(board_id)
    ctx.check_lock(board.id)
    return _view(ctx, ctx.boards.change_values(board.id, item_id, {column_id: value or ""}))


def _archive(_root: Any, info: Any, item_id: str | None = None) -> ItemView:
    ctx = _ctx(info)
    item = ctx.boards.item(item_id)
    ctx.check_lock(item.board_id)
    return _view(ctx, ctx.boards.archive(item.id))


def _delete(_root: Any, info: Any, item_id: str | None = None) -> ItemView:
    ctx = _ctx(info)
    item = ctx.boards.item(item_id, active=False)
    ctx.check_lock(item.board_id)
    return _view(ctx, ctx.boards.delete(item.id))
