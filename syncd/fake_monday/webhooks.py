"""The fake's webhooks: registered through the API, called when an item changes.

As monday does: `create_webhook` first POSTs ``{"challenge": ...}`` to the URL and
registers the webhook only if the answer echoes the challenge back. Afterwards each
change to an item on the board (through the API, or made by a test the way a person
would edit it) is POSTed to every matching webhook, in order, one event a call and
one call per changed column. With a signing secret, each call carries an
``Authorization`` JWT (HS256), as monday signs the calls of an app's webhooks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from syncd.fake_monday.boards import Boards, Item, MondayError, _now, webhook_value

ACCOUNT_ID = 424242
USER_ID = 7  # the person every change is made by, as far as the fake knows


@dataclass
class Webhook:
    id: int
    board_id: int
    event: str
    url: str
    config: dict[str, Any] | None = None


@dataclass
class Delivery:
    url: str
    body: dict[str, Any]
    status: int | None = None


@dataclass
class Webhooks:
    boards: Boards
    signing_secret: str | None = None
    hooks: dict[int, Webhook] = field(default_factory=dict)
    # Every call made (challenges included), with the status answered.
    delivered: list[Delivery] = field(default_factory=list)
    _next_id: int = 70_000_001
    _queue: asyncio.Queue[Delivery] | None = None
    _task: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.boards.listeners.append(self._changed)

    # -- the API -------------------------------------------------------------------

    async def create(self, board_id: int, url: str, event: str, config: Any) -> Webhook:
        challenge = secrets.token_urlsafe(16)
        answer = await self._post(Delivery(url, {"challenge": challenge}))
        if not isinstance(answer, dict) or answer.get("challenge") != challenge:
            raise MondayError(
                "WebhookChallengeFailed",
                "Failed to communicate with URL provided.",
                data={"url": url},
            )
        hook = Webhook(self._next_id, board_id, event, url, config or None)
        self._next_id += 1
        self.hooks[hook.id] = hook
        return hook

    def delete(self, webhook_id: Any) -> Webhook:
        try:
            return self.hooks.pop(int(webhook_id))
        except (KeyError, TypeError, ValueError):
            raise MondayError("ResourceNotFoundException", "Webhook not found") from None

    def on_board(self, board_id: int) -> list[Webhook]:
        return [h for h in self.hooks.values() if h.board_id == board_id]

    # -- delivery --------------------------------------------------------------------

    async def idle(self) -> None:
        """Until every event so far has been delivered (for tests)."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _changed(self, kind: str, item: Item, changes: dict[str, tuple[Any, Any]]) -> None:
        for hook in self.on_board(item.board_id):
            for event in self._events(hook, kind, item, changes):
                self._send(Delivery(hook.url, {"event": event}))

    def _events(
        self, hook: Webhook, kind: str, item: Item, changes: dict[str, tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        board = self.boards.boards[item.board_id]
        base = {
            "app": "monday",
            "userId": USER_ID,
            "originalTriggerUuid": None,
            "boardId": item.board_id,
            "triggerTime": _now(),
            "subscriptionId": hook.id,
            "triggerUuid": uuid.uuid4().hex,
        }
        if kind == "create" and hook.event == "create_item":
            values = {
                cid: webhook_value(board.columns[cid], value) for cid, value in item.values.items()
            }
            return [
                {
                    **base,
                    "type": "create_pulse",
                    "pulseId": item.id,
                    "pulseName": item.name,
                    "groupId": item.group_id,
                    "columnValues": values,
                }
            ]
        if kind == "change" and hook.event in (
            "change_column_value",
            "change_specific_column_value",
        ):
            wanted = (hook.config or {}).get("columnId")
            events = []
            for cid, (before, after) in changes.items():
                if cid == "name" or (
                    hook.event == "change_specific_column_value" and cid != wanted
                ):
                    continue
                column = board.columns[cid]
                events.append(
                    {
                        **base,
                        "type": "update_column_value",
                        "pulseId": item.id,
                        "pulseName": item.name,
                        "groupId": item.group_id,
                        "columnId": cid,
                        "columnType": column.type,
                        "columnTitle": column.title,
                        "value": webhook_value(column, after),
                        "previousValue": webhook_value(column, before),
                        "changedAt": time.time(),
                    }
                )
            return events
        removed = {"archive": "item_archived", "delete": "item_deleted"}
        if removed.get(kind) == hook.event:
            pulse = "archive_pulse" if kind == "archive" else "delete_pulse"
            return [{**base, "type": pulse, "itemId": item.id, "itemName": item.name}]
        return []

    def _send(self, delivery: Delivery) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: nothing could receive it
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver())
        self._queue.put_nowait(delivery)

    async def _deliver(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            try:
                await self._post(delivery)
            except Exception:  # a receiver that is down misses the event, as on monday
                pass
            finally:
                self._queue.task_done()

    async def _post(self, delivery: Delivery) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"Content-Type": "application/json"}
        if self.signing_secret is not None:
            now = int(time.time())
            claims = {"accountId": ACCOUNT_ID, "userId": USER_ID, "aud": delivery.url,
                      "iat": now, "exp": now + 300}  # fmt: skip
            headers["Authorization"] = jwt(claims, self.signing_secret)
        self.delivered.append(delivery)
        try:
            async with self._session.post(delivery.url, json=delivery.body, headers=headers) as r:
                delivery.status = r.status
                try:
                    return await r.json(content_type=None)
                except ValueError:
                    return None
        except aiohttp.ClientError:
            delivery.status = None
            return None


def jwt(claims: dict[str, Any], secret: str) -> str:
    """An HS256 JWT of `claims`, as monday signs its calls. Written here, not taken from
    syncd's verifier (handlers/monday/signing.py), so that the two are checked against
    each other rather than agreeing by construction."""

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = segment(b'{"alg":"HS256","typ":"JWT"}')
    body = segment(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{segment(mac)}"
