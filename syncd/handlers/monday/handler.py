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
from datetime import UTC, datetime
from typing import Any

import asyncpg

from syncd.errors import PermanentError
from syncd.handlers import Context, Job
from syncd.handlers.monday import columns, crm_graphql, items, operations, rows
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
        await items.remember(
            ctx.pool, self.entity_type, entity_id, board, item_id, digest, pushed(name, values)
        )

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
            operations.CREATE_ITEM,
            variables,
            board_id=self.mapping.board_id,
            idempotency_key=idempotency_key(job.id, operations.CREATE_ITEM, variables),
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
            operations.UPDATE_ITEM,
            variables,
            board_id=self.mapping.board_id,
            idempotency_key=idempotency_key(job.id, operations.UPDATE_ITEM, variables),
        )
        if answer.data.get("change_multiple_column_values") is None:
            raise ItemGone(f"monday has no item {item_id} on board {self.mapping.board_id}")

    async def _find(self, entity_id: uuid.UUID) -> int | None:
        """The id of the item made for `entity_id`, if monday has one."""
        item = await self._lookup(operations.FIND_ITEM, entity_id)
        return None if item is None else _item_id(item, "items_page_by_column_values")

    async def _find_with_values(self, entity_id: uuid.UUID) -> dict[str, Any] | None:
        """The item made for `entity_id`, with its name and the mapped columns' values."""
        columns = [c.column for c in self.mapping.columns.values()]
        return await self._lookup(operations.FIND_ITEM_VALUES, entity_id, columns=columns)

    async def _lookup(
        self, document: operations.Operation, entity_id: uuid.UUID, **variables: Any
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
        page = answer.data.get("items_page_by_column_values")
        found = page.get("items") if isinstance(page, dict) else page
        if not found:
            return None
        if not isinstance(found, list) or not isinstance(found[0], dict):
            # Not "no item": a delete would complete as a no-op on a garbled answer.
            raise MondayUnavailable(
                "monday answered items_page_by_column_values with an unexpected shape"
            )
        item: dict[str, Any] = found[0]
        return item

    def _holds(self, item: dict[str, Any], name: str, values: dict[str, Any]) -> bool:
        return columns.item_holds(self.mapping, item, name, values)

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
            operations.ARCHIVE_ITEM if self.mapping.delete == "archive" else operations.DELETE_ITEM
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
        """Apply the item's monday-owned fields to the entity's row (SPEC §11).

        Fields of direction ``to_npd`` are always written; ``to_monday`` fields never
        are. A ``both`` field is written unless both sides changed it since the last
        sync (the row's values no longer hash to what was last pushed): then the
        entity's `conflict` rule decides, and under ``newest_wins`` the row's
        ``updated_at_field`` and the item's ``updated_at`` do, logged as
        ``monday.conflict``. The item's name is never pulled (it is a template over
        several fields).

        Afterwards the item must hold what the CRM owns: if it does not (the CRM won
        a conflict, or a person edited a CRM-owned column), the item is updated. Then
        the row and the item agree and the push's hash is remembered, so the host's
        change trigger enqueues an upsert that is skipped as unchanged instead of
        echoing the values back.

        A ``delete`` (the item was deleted or archived on monday) follows
        ``on_item_deleted``.
        """
        entity_id = _entity(job)
        board = self.mapping.board_id
        known = await items.find(ctx.pool, self.entity_type, entity_id, board)
        item_id = known.item_id if known is not None else await self._find(entity_id)
        if job.operation == "delete":
            await self._item_removed(ctx, entity_id, item_id)
            return
        if item_id is None:
            raise PermanentError(
                f"{self.entity_type} {entity_id} has no item on monday board {board} to pull"
            )
        item = await self._item(item_id)
        if item is None or item.get("state") not in (None, "active"):
            raise ItemGone(f"monday has no active item {item_id} for {entity_id}")
        row = await self._row(ctx, entity_id)
        name, values = self._mapped(row, entity_id)
        digest = columns.values_hash(name, self.mapping.group_id, values)
        row_changed = known is None or known.values_hash != digest
        theirs = columns.pulled_values(self.mapping, item, row)
        contested = [f for f in theirs if self.mapping.columns[f].direction == "both"]
        if contested and row_changed and self._winner(ctx, row, item, contested) == "crm":
            for field in contested:
                del theirs[field]
        if theirs and not await rows.write(ctx.pool, self.mapping, entity_id, theirs):
            raise PermanentError(f"{self.entity_type} {entity_id}: row vanished during the pull")
        ctx.log.info("monday.pulled", item_id=item_id, fields=sorted(theirs))
        if theirs:
            row = await self._row(ctx, entity_id)
            name, values = self._mapped(row, entity_id)
            digest = columns.values_hash(name, self.mapping.group_id, values)
        if not self._holds(item, name, values):
            await self._update(job, item_id, name, values)
            ctx.log.info("monday.item_updated", item_id=item_id)
        await items.remember(
            ctx.pool, self.entity_type, entity_id, board, item_id, digest, pushed(name, values)
        )

    def _winner(
        self, ctx: Context, row: dict[str, Any], item: dict[str, Any], fields: list[str]
    ) -> str:
        """Who wins `fields`, changed on both sides since the last sync: "crm" or "monday"."""
        side, row_time, item_time = winner(self.mapping, row, item)
        if self.mapping.policy() == "newest_wins":
            ctx.log.info(
                "monday.conflict",
                item_id=item.get("id"),
                fields=sorted(fields),
                row_updated_at=None if row_time is None else row_time.isoformat(),
                item_updated_at=None if item_time is None else item_time.isoformat(),
                crm_values={f: row.get(f) for f in sorted(fields)},
                winner=side,
            )
        return side

    async def _item(self, item_id: int) -> dict[str, Any] | None:
        """The item with its name, state, last change and every mapped column."""
        answer = await self.client.call(
            crm_graphql.GET_ITEM,
            {"item": str(item_id), "columns": [c.column for c in self.mapping.columns.values()]},
        )
        found = answer.data.get("items") or []
        if not isinstance(found, list) or (found and not isinstance(found[0], dict)):
            raise MondayUnavailable("monday answered items with an unexpected shape")
        if not found:
            return None
        item: dict[str, Any] = found[0]
        return item

    async def _item_removed(self, ctx: Context, entity_id: uuid.UUID, item_id: int | None) -> None:
        """The item was deleted or archived on monday: do what on_item_deleted says."""
        action = self.mapping.on_item_deleted
        if item_id is None:
            ctx.log.info("monday.item_removed", action="nothing", reason="no item linked")
            return
        item = await self._item(item_id)
        if item is not None and item.get("state") in (None, "active"):
            # Restored since, or the event was not about this item's removal.
            ctx.log.info("monday.item_removed", item_id=item_id, action="nothing", reason="active")
            return
        board = self.mapping.board_id
        if action == "mark":
            assert self.mapping.deleted_field is not None  # settings refuse it otherwise
            moment = datetime.now(UTC).isoformat()
            if not await rows.write(
                ctx.pool, self.mapping, entity_id, {self.mapping.deleted_field: moment}
            ):
                # The CRM deleted the row itself (its delete job archived the item,
                # and this is monday telling us so): nothing is left to mark.
                action = "unlink"
        if action in ("unlink", "mark"):
            await items.forget(ctx.pool, self.entity_type, entity_id, board)
        ctx.log.info("monday.item_removed", item_id=item_id, action=action)

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


def winner(
    mapping: EntityMapping, row: dict[str, Any], item: dict[str, Any]
) -> tuple[str, datetime | None, datetime | None]:
    """Who wins a field both sides changed since the last sync ("crm" or "monday"),
    under the entity's conflict rule, with the two change times newest_wins compares.

    Under newest_wins a side whose time is unknown loses; with neither known,
    monday's value is taken (a pull is brought by monday's latest change).
    """
    policy = mapping.policy()
    row_time = _moment(row.get(mapping.updated_at_field)) if mapping.updated_at_field else None
    item_time = _moment(item.get("updated_at"))
    if policy != "newest_wins":
        return ("crm" if policy == "crm_wins" else "monday"), row_time, item_time
    newer = row_time is not None and (item_time is None or row_time > item_time)
    return ("crm" if newer else "monday"), row_time, item_time


def pushed(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """What a push sent, as ``monday_items.pushed_values`` keeps it."""
    return {"name": name, **values}


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
