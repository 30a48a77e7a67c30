"""The client against the fake: headers, both error formats, and how each fault is classified."""

from __future__ import annotations

import json

import pytest

from syncd.errors import Kind, PermanentError, classify
from syncd.fake_monday import TOKEN, FakeMonday
from syncd.handlers.monday import operations
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.errors import ItemGone, MondayRefused, MondayUnavailable
from tests.support.monday import (
    CONTACTS_BOARD,
    ORGANIZATIONS_BOARD,
    assert_valid,
    client,
    fake,
    open_client,
)

__all__ = ["client", "fake"]


def create(name: str = "Ada", **values: object) -> dict[str, object]:
    return {
        "board": str(CONTACTS_BOARD),
        "group": "topics",
        "name": name,
        "values": json.dumps({"text_syncd_id": "x", **values}),
    }


async def test_every_call_carries_the_token_the_version_and_asks_for_complexity(
    fake: FakeMonday, client: MondayClient
) -> None:
    answer = await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)
    assert answer.data["create_item"]["id"]
    assert answer.data["complexity"]["query"] > 0
    [request] = fake.received
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["API-Version"] == "2026-10"
    assert "complexity" in request.fields
    # It learnt what the call cost and where the budgets stand.
    assert client.pacer.costs["create_item"] == answer.data["complexity"]["query"]
    assert {"complexity", "minute"} <= set(client.pacer.budgets)


async def test_a_refused_column_value_is_permanent_with_mondays_message(
    client: MondayClient,
) -> None:
    values = {
        "board": str(ORGANIZATIONS_BOARD),
        "group": None,
        "name": "Acme",
        "values": json.dumps({"status": {"label": "Aerospace"}}),
    }
    with pytest.raises(MondayRefused) as caught:
        await client.call(operations.CREATE_ITEM, values, board_id=ORGANIZATIONS_BOARD)
    assert caught.value.code == "ColumnValueException"
    assert "label does not exist" in str(caught.value)
    assert classify(caught.value) == Kind.PERMANENT


async def test_an_item_monday_does_not_have_is_reported_gone(client: MondayClient) -> None:
    values = {"board": str(CONTACTS_BOARD), "item": "999", "values": "{}"}
    with pytest.raises(ItemGone):
        await client.call(operations.UPDATE_ITEM, values, board_id=CONTACTS_BOARD)


async def test_the_legacy_error_format_is_read_too(fake: FakeMonday) -> None:
    client = await open_client(fake, api_version="2024-01")
    try:
        values = {"board": str(CONTACTS_BOARD), "item": "999", "values": "{}"}
        with pytest.raises(ItemGone, match="InvalidItemIdException"):
            await client.call(operations.UPDATE_ITEM, values, board_id=CONTACTS_BOARD)
        body = json.loads(await _last_body(fake))
        assert body["error_code"] == "InvalidItemIdException" and "errors" not in body
    finally:
        await client.stop()


async def _last_body(fake: FakeMonday) -> str:
    # The fake answers from its own state: replay the last request to see the body.
    import aiohttp

    last = fake.received[-1]
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url, data=last.body, headers=last.headers) as response,
    ):
        return await response.text()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable_and_name_the_status(
    fake: FakeMonday, client: MondayClient, status: int
) -> None:
    fake.faults.fail(status)
    with pytest.raises(MondayUnavailable) as caught:
        await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)
    assert classify(caught.value) == Kind.RETRYABLE
    assert str(caught.value) == (
        f"monday HTTP {status} INTERNAL_SERVER_ERROR: Internal server error"
    )
    # It passes: the next call works.
    await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)


async def test_a_dropped_connection_is_retryable(fake: FakeMonday, client: MondayClient) -> None:
    fake.faults.drop()
    with pytest.raises(MondayUnavailable, match="ServerDisconnected"):
        await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)
    assert fake.boards.on_board(CONTACTS_BOARD) == []


async def test_a_slow_answer_times_out_as_retryable(fake: FakeMonday) -> None:
    client = await open_client(fake, timeout="200ms")
    fake.faults.delay(2.0, times=1)
    try:
        with pytest.raises(MondayUnavailable, match="did not answer"):
            await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)
    finally:
        await client.stop()


async def test_a_wrong_token_is_retryable_and_not_echoed(fake: FakeMonday) -> None:
    client = await open_client(fake, token="tok-wrong-987")
    try:
        with pytest.raises(MondayUnavailable) as caught:
            await client.call(operations.CREATE_ITEM, create(), board_id=CONTACTS_BOARD)
    finally:
        await client.stop()
    assert "Not Authenticated" in str(caught.value)
    assert "tok-wrong-987" not in str(caught.value) and "tok-wrong-987" not in repr(client)
    assert fake.boards.on_board(CONTACTS_BOARD) == []


async def test_an_unsupported_api_version_is_refused_by_the_fake(fake: FakeMonday) -> None:
    client = await open_client(fake, api_version="2019-01")
    try:
        with pytest.raises(MondayUnavailable, match="InvalidApiVersionException"):
            await client.call(operations.FIND_ITEM, {"board": "1", "column": "x", "value": "y"})
    finally:
        await client.stop()


async def test_a_document_outside_the_schema_is_refused_by_the_fake(
    fake: FakeMonday, client: MondayClient
) -> None:
    bogus = operations.Operation("bogus", "query { items { no_such_field } }")
    with pytest.raises(PermanentError, match="GRAPHQL_VALIDATION_FAILED"):
        await client.call(bogus, {})
    fake.received.clear()  # not one of syncd's documents: keep it out of the schema check


def test_every_document_validates_against_mondays_published_schema() -> None:
    # Including those a test run may not send (the lookup with values of a retry).
    assert_valid([document.text for document in operations.ALL])
