"""The sync-queue handler for one entity type mapped to a monday.com board.

``to_monday`` jobs push the row: ``upsert`` creates the item or updates its
columns, ``delete`` archives (or deletes) it. ``to_npd`` jobs pull the item's mapped
columns back into the row.

Pushes are idempotent three times over. An unchanged row is not sent (the hash of
the values last pushed is kept in ``monday_items``). Every mutation carries an
``Idempotency-Key`` made of the job id and the exact mutation, so a retry replays
monday's first answer instead of repeating the change. And a create in a retried
job first looks for the item by the key column that holds our entity id: the
previous attempt may have made it and lost the answer. That lookup brings the
item's name and mapped column values along, and when they are exactly what the
update would write (the lost attempt was applied), no update is sent.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from syncd.errors import PermanentError
from syncd.handlers import Context, Job
from syncd.handlers.monday import columns, documents, items, rows
from syncd.handlers.monday.client import MondayClient, idempotency_key
from syncd.handlers.monday.errors import ItemGone, MondayUnavailable
from syncd.handlers.monday.settings import EntityMapping


class MondaySync:
    """Handles sync jobs of one entity type (registered under that entity type)."""

    def __init__(self, entity_type: str, mapping: EntityMapping, client: MondayClient) -> None:
        self.entity_type = entity_type
        self.mapping = mapping
        self.client = client

    def __repr__(self) -> str:
        return f"MondaySync({self.entity_type!r}, board={self.mapping.board_id})"

    async def __call__(self, job: Job, ctx: Context) -> None:
        if job.entity_id is None:
            raise PermanentError("sync job without an entity_id")
        if job.direction == "to_npd":
            await self.pull(job, ctx)
        elif job.operation == "upsert":
            await self.push(job, ctx)
        elif job.operation == "delete":
            await self.remove(job, ctx)
        else:
            raise PermanentError(f"unknown operation {job.operation!r} for monday.com sync")

    # -- to_monday: upsert ---------------------------------------------------------

    async def push(self, job: Job, ctx: Context) -> None:
        entity_id = _entity(job)
        row = await self._row(ctx, entity_id)
        name, values = self._mapped(row, entity_id)
        digest = columns.values_hash(name, self.mapping.group_id, values)
        board = self.mapping.board_id
        known = await items.find(ctx.pool, self.entity_type, entity_id, board)
        if known is not None and known.values_hash == digest:
            ctx.log.debug("monday.unchanged", item_id=known.item_id)
            return
        item_id = known.item_id if known is not None else None
        up_to_date = False
        if item_id is None and job.attempt > 1:
            # An earlier attempt may have created the item and lost the answer, and
            # when it was applied the item may hold these very values already.
            found = await self._find_with_values(entity_id)
            if found is not None:
                item_id = _item_id(found, "items_page_by_column_values")
                up_to_date = self._holds(found, name, values)
                ctx.log.info("monday.item_found", item_id=item_id, up_to_date=up_to_date)
        if item_id is not None and not up_to_date:
            try:
                await self._update(job, item_id, name, values)
                ctx.log.info("monday.item_updated", item_id=item_id)
            except ItemGone:
                ctx.log.info("monday.item_gone", item_id=item_id)
                await items.forget(ctx.pool, self.entity_type, entity_id, board)
                item_id = None
        if item_id is None:
            item_id = await self._create(job, entity_id, name, values)
            ctx.log.info("monday.item_created", item_id=item_id, board_id=board)
        await items.remember(ctx.pool, self.entity_type, entity_id, board, item_id, digest)

    async def _create(
        self, job: Job, entity_id: uuid.UUID, name: str, values: dict[str, Any]
    ) -> int:
        variables = {
            "board": str(self.mapping.board_id),
            "group": self.mapping.group_id,
            "name": name,
            "values": _json({self.mapping.key_column: str(entity_id), **values}),
        }
        answer = await self.client.call(
            documents.CREATE_ITEM,
            variables,
            board_id=self.mapping.board_id,
            idempotency_key=idempotency_key(job.id, documents.CREATE_ITEM, variables),
        )
        return _item_id(answer.data.get("create_item"), "create_item")

    async def _update(self, job: Job, item_id: int, name: str, values: dict[str, Any]) -> None:
        variables = {
            "board": str(self.mapping.board_id),
            "item": str(item_id),
            # "name" in column_values renames the item in the same call.
            "values": _json({"name": name, **values}),
        }
        answer = await self.client.call(
            documents.UPDATE_ITEM,
            variables,
            board_id=self.mapping.board_id,
            idempotency_key=idempotency_key(job.id, documents.UPDATE_ITEM, variables),
        )
        if answer.data.get("change_multiple_column_values") is None:
            raise ItemGone(f"monday has no item {item_id} on board {self.mapping.board_id}")

    async def _find(self, entity_id: uuid.UUID) -> int | None:
        """The id of the item made for `entity_id`, if monday has one."""
        item = await self._lookup(documents.FIND_ITEM, entity_id)
        return None if item is None else _item_id(item, "items_page_by_column_values")

    async def _find_with_values(self, entity_id: uuid.UUID) -> dict[str, Any] | None:
        """The item made for `entity_id`, with its name and the mapped columns' values."""
        columns = [c.column for c in self.mapping.columns.values()]
        return await self._lookup(documents.FIND_ITEM_VALUES, entity_id, columns=columns)

    async def _lookup(
        self, document: documents.Document, entity_id: uuid.UUID, **variables: Any
    ) -> dict[str, Any] | None:
        """The first item whose key column holds `entity_id`, as `document` asks for it."""
        answer = await self.client.call(
            document,
            {
                "board": str(self.mapping.board_id),
                "column": self.mapping.key_column,
                "value": str(entity_id),
                **variables,
            },
            board_id=self.mapping.board_id,
        )
        page = answer.data.get("items_page_by_column_values") or {}
        found = page.get("items") or []
        if not found:
            return None
        if not isinstance(found[0], dict):
            raise MondayUnavailable("monday answered items_page_by_column_values without an item")
        item: dict[str, Any] = found[0]
        return item

    def _holds(self, item: dict[str, Any], name: str, values: dict[str, Any]) -> bool:
        """Whether the update of `item` would change nothing (when unsure: False)."""
        if item.get("name") != name:
            return False
        stored = item.get("column_values")
        if not isinstance(stored, list):
            return False
        by_column = {cv.get("id"): cv for cv in stored if isinstance(cv, dict)}
        return all(
            columns.holds(column, values[column.column], by_column.get(column.column))
            for column in self.mapping.columns.values()
        )

    # -- to_monday: delete ---------------------------------------------------------

    async def remove(self, job: Job, ctx: Context) -> None:
        entity_id = _entity(job)
        board = self.mapping.board_id
        known = await items.find(ctx.pool, self.entity_type, entity_id, board)
        # Not remembered: a push may still have made the item and lost the answer.
        item_id = known.item_id if known is not None else await self._find(entity_id)
        if item_id is None:
            ctx.log.info("monday.nothing_to_delete")
            return
        document = (
            documents.ARCHIVE_ITEM if self.mapping.delete == "archive" else documents.DELETE_ITEM
        )
        variables = {"item": str(item_id)}
        try:
            await self.client.call(
                document,
                variables,
                board_id=board,
                idempotency_key=idempotency_key(job.id, document, variables),
            )
            ctx.log.info(f"monday.item_{self.mapping.delete}d", item_id=item_id)
        except ItemGone:
            ctx.log.info("monday.item_gone", item_id=item_id)
        await items.forget(ctx.pool, self.entity_type, entity_id, board)

    # -- to_npd --------------------------------------------------------------------

    async def pull(self, job: Job, ctx: Context) -> None:
        """Apply the item's mapped columns to the entity's row.

        What wins when both sides changed: with ``updated_at_field`` configured, the
        side changed last. If the row changed after the monday item did, the row wins
        and is pushed instead (the pull is dropped); otherwise monday's values are
        written to the row. Without ``updated_at_field`` monday always wins for the
        mapped fields. Only mapped fields with ``pull = true`` are written; the
        item's name is never pulled (it is a template over several fields).

        After a pull the row and the item agree, so the hash of the row's mapped
        values is remembered: the host's own change trigger then enqueues an upsert
        that is skipped as unchanged instead of echoing the values back.
        """
        entity_id = _entity(job)
        board = self.mapping.board_id
        known = await items.find(ctx.pool, self.entity_type, entity_id, board)
        item_id = known.item_id if known is not None else await self._find(entity_id)
        if item_id is None:
            raise PermanentError(
                f"{self.entity_type} {entity_id} has no item on monday board {board} to pull"
            )
        pulled = [(f, c) for f, c in self.mapping.columns.items() if c.pull]
        answer = await self.client.call(
            documents.GET_ITEM,
            {"item": str(item_id), "columns": [c.column for _, c in pulled]},
        )
        found = answer.data.get("items") or []
        if not found or found[0].get("state") not in (None, "active"):
            raise ItemGone(f"monday has no active item {item_id} for {entity_id}")
        item = found[0]
        row = await self._row(ctx, entity_id)
        if self._row_is_newer(row, item):
            ctx.log.info("monday.pull_skipped", item_id=item_id, reason="row changed later")
            await self.push(job, ctx)
            return
        by_column = {cv["id"]: cv for cv in item.get("column_values") or []}
        changes = {}
        for field, column in pulled:
            cv = by_column.get(column.column, {})
            value = columns.decode(column, cv.get("value"), cv.get("text"), row.get(field))
            if value != row.get(field):
                changes[field] = value
        if changes and not await rows.write(ctx.pool, self.mapping, entity_id, changes):
            raise PermanentError(f"{self.entity_type} {entity_id}: row vanished during the pull")
        ctx.log.info("monday.pulled", item_id=item_id, fields=sorted(changes))
        if len(pulled) == len(self.mapping.columns):
            row = await self._row(ctx, entity_id)
            name, values = self._mapped(row, entity_id)
            if name == item.get("name"):
                digest = columns.values_hash(name, self.mapping.group_id, values)
                await items.remember(ctx.pool, self.entity_type, entity_id, board, item_id, digest)

    def _row_is_newer(self, row: dict[str, Any], item: dict[str, Any]) -> bool:
        field = self.mapping.updated_at_field
        if field is None:
            return False
        row_time, item_time = _moment(row.get(field)), _moment(item.get("updated_at"))
        return row_time is not None and item_time is not None and row_time > item_time

    # -- the row -------------------------------------------------------------------

    async def _row(self, ctx: Context, entity_id: uuid.UUID) -> dict[str, Any]:
        try:
            row = await rows.read(ctx.pool, self.mapping, entity_id)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as exc:
            raise PermanentError(
                f"monday.entities.{self.entity_type}: {exc} "
                "(check table, id_field and the mapped fields)"
            ) from None
        if row is None:
            raise PermanentError(
                f"{self.entity_type} {entity_id} not found in table {self.mapping.table}"
            )
        return row

    def _mapped(self, row: dict[str, Any], entity_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
        try:
            name = columns.item_name(self.mapping, row, str(entity_id))
            return name, columns.column_values(self.mapping, row)
        except columns.InvalidValue as exc:
            raise PermanentError(f"{self.entity_type} {entity_id}: {exc}") from None


def _entity(job: Job) -> uuid.UUID:
    assert job.entity_id is not None
    return job.entity_id


def _json(values: dict[str, Any]) -> str:
    # monday's column_values argument is a JSON-encoded string; sorted keys keep
    # the text (and so the Idempotency-Key) the same for the same values.
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _item_id(node: Any, field: str) -> int:
    try:
        return int(node["id"])
    except (TypeError, KeyError, ValueError):
        raise MondayUnavailable(f"monday answered {field} without an item id") from None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
