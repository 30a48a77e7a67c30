"""Inbound monday.com webhooks (SPEC §11): monday's calls turned into ``to_npd`` jobs.

`WebhookReceiver.add_routes` puts one POST route on an aiohttp application (the
daemon's HTTP listener, `syncd.httpd.Endpoints.app`) at ``[monday.webhooks] path``, a
secret path. Each call is checked before anything else is done:

- the path must be the secret one (compared in constant time); a call on another
  path under the same parent gets 401;
- monday's ``challenge`` handshake is answered on the secret path (it enqueues
  nothing, and monday sends it before a webhook exists);
- with a signing secret configured, every event must carry the JWT monday signs
  with the app's signing secret (HS256, `signing.verify`); a missing or bad one, one
  without ``exp``, expired, or issued in the future, gets 401.

An event on a mapped board becomes a ``to_npd`` job through the same INSERT an
application makes, so the merge trigger folds a burst of edits to one item into one
job: ``create_pulse`` (an item made with a row's entity id in the key column),
``update_column_value`` of a column monday owns or shares, ``delete_pulse`` /
``archive_pulse`` (a ``delete`` job, which follows the entity's ``on_item_deleted``).

**Echo suppression.** Every push syncd makes comes back as webhook events. An event
whose value is what syncd itself last pushed to that column (``monday_items.
pushed_values``) is syncd's own change: it is logged as ``monday.echo_suppressed``
and enqueues nothing. Where it is not (the last push is not known, or
the echo came back before the push's answer was recorded), the value is compared with
the row's instead: equal means there is nothing to pull either. A value that differs
from both is a person's edit, even when the row has moved on since syncd's last push.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from syncd import queries
from syncd.handlers.monday import columns, items, rows, signing
from syncd.handlers.monday.backfill import as_entity_id
from syncd.handlers.monday.settings import ColumnMapping, EntityMapping, MondaySettings

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("syncd.monday")

# What monday's events are named in their payload ("type").
CREATED, CHANGED, DELETED, ARCHIVED = (
    "create_pulse",
    "update_column_value",
    "delete_pulse",
    "archive_pulse",
)
# What monday adds to a value in an event that syncd never sends.
_ADDED = frozenset({"changed_at", "icon"})


class WebhookReceiver:
    def __init__(self, settings: MondaySettings, pool: asyncpg.Pool) -> None:
        if settings.webhooks is None:
            raise ValueError("[monday.webhooks] is not configured")
        self.path = settings.webhooks.resolve_path()
        self._secret = settings.webhooks.resolve_signing_secret()
        self._pool = pool
        # enqueued, echoes: for the demo, and for a look at what the calls brought.
        self.stats: Counter[str] = Counter()
        self._boards: dict[int, list[tuple[str, EntityMapping]]] = {}
        for entity_type, mapping in settings.entities.items():
            self._boards.setdefault(mapping.board_id, []).append((entity_type, mapping))

    def add_routes(self, app: web.Application) -> None:
        """The secret path, and 401 for any other under the same parent."""
        parent, _, self._token = self.path.rpartition("/")
        app.router.add_post(parent + "/{token}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            log.warning("monday.webhook_refused", reason="not the webhook path")
            return _unauthorized()
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body is not a JSON object"}, status=400)
        if "challenge" in body and "event" not in body:
            return web.json_response({"challenge": body["challenge"]})
        if self._secret is not None:
            try:
                signing.verify(request.headers.get("Authorization", ""), self._secret)
            except signing.BadSignature as exc:
                log.warning("monday.webhook_refused", reason=str(exc))
                return _unauthorized()
        event = body.get("event")
        if not isinstance(event, dict):
            return web.json_response({"error": "no event in the body"}, status=400)
        enqueued = await self.receive(event)
        self.stats["events"] += 1
        self.stats["enqueued"] += enqueued
        return web.json_response({"enqueued": enqueued})

    async def receive(self, event: dict[str, Any]) -> int:
        """Turn one verified event into to_npd jobs; returns how many were enqueued."""
        kind = event.get("type")
        board_id = _int(event.get("boardId"))
        item_id = _int(event.get("pulseId") or event.get("itemId"))
        mapped = self._boards.get(board_id or -1)
        if not mapped or item_id is None:
            _ignored(event, "not an item of a mapped board")
            return 0
        if kind == CREATED:
            return await self._created(event, item_id, mapped)
        if kind not in (CHANGED, DELETED, ARCHIVED):
            _ignored(event, f"event type {kind!r} is not synced")
            return 0
        links = await items.of_item(self._pool, board_id or 0, item_id)
        by_type = dict(mapped)
        enqueued = 0
        for link in links:
            mapping = by_type.get(link.entity_type)
            if mapping is None:
                continue
            if kind == CHANGED:
                enqueued += await self._changed(event, item_id, link, mapping)
            elif mapping.on_item_deleted == "nothing":
                _ignored(event, "on_item_deleted is nothing", entity_id=str(link.entity_id))
            else:
                await self._enqueue(link.entity_type, link.entity_id, "delete", item_id, kind)
                enqueued += 1
        if not links:
            _ignored(event, "the item is not linked to a row")
        return enqueued

    async def _created(
        self, event: dict[str, Any], item_id: int, mapped: list[tuple[str, EntityMapping]]
    ) -> int:
        values = event.get("columnValues")
        values = values if isinstance(values, dict) else {}
        enqueued = 0
        for entity_type, mapping in mapped:
            key = values.get(mapping.key_column)
            entity_id = as_entity_id(key.get("value") if isinstance(key, dict) else key)
            if entity_id is None:
                _ignored(event, "no entity id in the key column (a backfill adopts the item)")
                continue
            row = await rows.read(self._pool, mapping, entity_id)
            if row is None:
                _ignored(event, "no row holds the key column's entity id")
                continue
            try:
                sent = _row_values(mapping, row)
            except columns.InvalidValue:
                sent = {}
            same = all(
                monday_value(column, values.get(column.column)) == sent.get(column.column)
                for column in mapping.pulled_columns().values()
            )
            if same:
                _suppressed(event, entity_type, entity_id, "the item holds the row's values")
                self.stats["echoes"] += 1
                continue
            await self._enqueue(entity_type, entity_id, "upsert", item_id, CREATED)
            enqueued += 1
        return enqueued

    async def _changed(
        self, event: dict[str, Any], item_id: int, link: items.Link, mapping: EntityMapping
    ) -> int:
        column_id = event.get("columnId")
        column = next((c for c in mapping.columns.values() if c.column == column_id), None)
        if column is None or not column.pulled:
            _ignored(event, "the column is not one monday owns or shares", column=column_id)
            return 0
        value = monday_value(column, event.get("value"))
        last = link.pushed_values
        echo = last is not None and column.column in last and last[column.column] == value
        why = "syncd's last push"
        if not echo:
            # A push's echo can arrive before the push's answer is recorded (the job
            # commits after monday answers), when `last` still holds the push before.
            # A value the row already holds has nothing to pull either.
            row = await rows.read(self._pool, mapping, link.entity_id)
            try:
                current = None if row is None else _row_values(mapping, row)
            except columns.InvalidValue:
                current = None
            echo = current is not None and current.get(column.column) == value
            why = "the row's value"
        if echo:
            _suppressed(event, link.entity_type, link.entity_id, f"same as {why}")
            self.stats["echoes"] += 1
            return 0
        await self._enqueue(link.entity_type, link.entity_id, "upsert", item_id, CHANGED)
        return 1

    async def _enqueue(
        self, entity_type: str, entity_id: uuid.UUID, operation: str, item_id: int, kind: str
    ) -> None:
        await self._pool.execute(
            queries.load("enqueue_sync"),
            entity_type,
            entity_id,
            "to_npd",
            operation,
            0,
            {"item_id": item_id, "webhook": kind},
        )
        log.info(
            "monday.webhook_enqueued",
            entity_type=entity_type,
            entity_id=str(entity_id),
            item_id=item_id,
            operation=operation,
            webhook=kind,
        )


def monday_value(column: ColumnMapping, value: Any) -> Any:
    """An event's column value in the shape `columns.encode` sends for the column, so
    that it compares with what syncd pushed."""
    kind = column.type
    if value is None or value == {} or value == "":
        return columns.clear(kind)
    if not isinstance(value, dict):
        return str(value) if kind in ("text", "numbers") else value
    if kind in ("text", "numbers"):
        plain = value.get("value")
        return "" if plain in (None, "") else str(plain)
    if kind == "status":
        label = value.get("label")
        text = label.get("text") if isinstance(label, dict) else label
        return {"label": text} if text else {}
    if kind == "dropdown":
        names = [c.get("name") for c in value.get("chosenValues") or [] if isinstance(c, dict)]
        return {"labels": names} if names else {}
    if kind == "long_text":
        return {"text": value.get("text")} if value.get("text") else {}
    return {k: v for k, v in value.items() if v is not None and k not in _ADDED}


def _row_values(mapping: EntityMapping, row: dict[str, Any]) -> dict[str, Any]:
    """Every mapped column's value for the row, as a push would send it."""
    sent = {}
    for field, column in mapping.columns.items():
        sent[column.column] = columns.encode(column, row.get(field))
    return sent


def _unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401)


def _ignored(event: dict[str, Any], reason: str, **more: Any) -> None:
    log.debug(
        "monday.webhook_ignored",
        webhook=event.get("type"),
        board_id=event.get("boardId"),
        item_id=event.get("pulseId") or event.get("itemId"),
        reason=reason,
        **more,
    )


def _suppressed(event: dict[str, Any], entity_type: str, entity_id: uuid.UUID, reason: str) -> None:
    log.info(
        "monday.echo_suppressed",
        entity_type=entity_type,
        entity_id=str(entity_id),
        item_id=event.get("pulseId"),
        column=event.get("columnId"),
        webhook=event.get("type"),
        reason=reason,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
