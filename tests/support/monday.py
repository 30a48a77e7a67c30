"""Shared pieces of the monday.com tests: a running fake, its boards, and the mapping.

The `fake` fixture checks, when the test ends, that every GraphQL document the fake
received validates against monday's published schema, read from
``../shared/monday/schema-2026-10.graphql`` next to the repository (or from
``$SYNCD_MONDAY_SCHEMA``), not from the copy the fake ships with.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import graphql
import pytest
import structlog

from syncd.config import Settings
from syncd.fake_monday import TOKEN, Column, FakeMonday
from syncd.handlers import SYNC, Context, Job
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.pauses import MemoryPauses
from syncd.handlers.monday.settings import MondaySettings
from tests.support.database import make_settings

REPO = Path(__file__).resolve().parents[2]
CONTACTS_BOARD = 1001
ORGANIZATIONS_BOARD = 1002


@cache
def published_schema() -> graphql.GraphQLSchema:
    path = REPO.parent / "shared" / "monday" / "schema-2026-10.graphql"
    if not path.is_file():
        given = os.environ.get("SYNCD_MONDAY_SCHEMA")
        if not given:
            pytest.fail(f"monday's schema is not at {path}; set SYNCD_MONDAY_SCHEMA")
        path = Path(given)
    return graphql.build_schema(path.read_text(encoding="utf-8"))


def assert_valid(documents: list[str]) -> None:
    schema = published_schema()
    for text in documents:
        problems = graphql.validate(schema, graphql.parse(text))
        assert not problems, f"not valid against monday's schema: {problems}\n{text}"


def add_boards(fake: FakeMonday) -> None:
    fake.boards.add_board(
        CONTACTS_BOARD,
        {
            "text_syncd_id": "text",
            "email": "email",
            "phone": "phone",
            "text_title": "text",
        },
        name="Contacts",
        groups={"topics": "Contacts", "new_group": "New"},
    )
    fake.boards.add_board(
        ORGANIZATIONS_BOARD,
        {
            "text_syncd_id": "text",
            "link": "link",
            "phone": "phone",
            "status": Column("status", "status", "Industry", ["Software", "Retail", "Health"]),
            "country": "country",
        },
        name="Organizations",
    )


@contextlib.asynccontextmanager
async def running_fake(**options: Any) -> AsyncIterator[FakeMonday]:
    """A fake with the test boards; at the end, every document it got must validate."""
    server = FakeMonday(**options)
    add_boards(server)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert_valid(server.documents)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMonday]:
    async with running_fake() as server:
        yield server


def monday_config(fake: FakeMonday, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_url": fake.url,
        "token": TOKEN,
        "timeout": 5,
        "entities": {
            "contact": {
                "table": "contacts",
                "board_id": CONTACTS_BOARD,
                "group_id": "topics",
                "item_name": "{first_name} {last_name}",
                "key_column": "text_syncd_id",
                "updated_at_field": "updated_at",
                "columns": {
                    "email": {"column": "email", "type": "email", "direction": "both"},
                    "phone": {
                        "column": "phone",
                        "type": "phone",
                        "country": "US",
                        "direction": "both",
                    },
                    "title": {"column": "text_title", "type": "text", "direction": "both"},
                },
            },
            "organization": {
                "table": "organizations",
                "board_id": ORGANIZATIONS_BOARD,
                "item_name": "{name}",
                "key_column": "text_syncd_id",
                "columns": {
                    "website": {"column": "link", "type": "link", "direction": "both"},
                    "industry": {"column": "status", "type": "status", "direction": "both"},
                    "country": {"column": "country", "type": "country", "direction": "both"},
                },
            },
        },
    }
    config.update(overrides)
    return config


def monday_settings(fake: FakeMonday, **overrides: Any) -> MondaySettings:
    return MondaySettings(**monday_config(fake, **overrides))


async def open_client(fake: FakeMonday, **overrides: Any) -> MondayClient:
    """A started client on the fake, with a pause store of its own."""
    client = MondayClient(monday_settings(fake, **overrides), pauses=MemoryPauses())
    await client.start(None)
    return client


@pytest.fixture
async def client(fake: FakeMonday) -> AsyncIterator[MondayClient]:
    c = await open_client(fake)
    try:
        yield c
    finally:
        await c.stop()


def create_variables(
    name: str = "Ada", board: int = CONTACTS_BOARD, **values: Any
) -> dict[str, Any]:
    """The variables of a create_item on `board`, with a fresh entity id unless given."""
    return {
        "board": str(board),
        "group": "topics" if board == CONTACTS_BOARD else None,
        "name": name,
        "values": json.dumps({"text_syncd_id": str(uuid.uuid4()), **values}),
    }


def too_many(code: str = "MINUTE_RATE_LIMIT_EXCEEDED", retry: Any = 30) -> dict[str, Any]:
    """A 429's body in monday's format, naming `retry` seconds to wait."""
    return {
        "errors": [
            {
                "message": "Rate Limit Exceeded",
                "extensions": {"code": code, "retry_in_seconds": retry},
            }
        ]
    }


def daemon_settings(database_url: str, fake: FakeMonday, **overrides: Any) -> Settings:
    # Webhooks arrive on the HTTP listener: with them, listen on any free port.
    http = {"listen": "127.0.0.1:0"} if "webhooks" in overrides else {}
    return make_settings(
        database_url,
        monday=monday_config(fake, **overrides),
        retry={"delays": [1, 1, 1]},
        http=http,
    )


def sync_job(
    entity_id: uuid.UUID,
    *,
    entity_type: str = "contact",
    operation: str = "upsert",
    direction: str = "to_monday",
    attempt: int = 1,
    job_id: uuid.UUID | None = None,
) -> Job:
    return Job(
        queue=SYNC,
        id=job_id or uuid.uuid4(),
        attempt=attempt,
        max_attempts=5,
        operation=operation,
        entity_type=entity_type,
        entity_id=entity_id,
        direction=direction,
    )


def context(pool: Any, settings: Settings | None = None) -> Context:
    return Context(pool=pool, settings=settings or Settings(), log=structlog.get_logger("test"))
