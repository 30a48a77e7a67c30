"""What the client makes of monday's answers when they are not what they should be:
oversized, redirected, too large a request (413), or garbage. Each becomes a clear
error of the right kind, never a raw decoding or attribute error."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from syncd.errors import JobError, Kind, classify
from syncd.fake_monday import FakeMonday
from syncd.handlers.monday import operations
from syncd.handlers.monday.client import MondayClient, idempotency_key
from syncd.handlers.monday.errors import MondayRefused, MondayUnavailable
from tests.support.monday import CONTACTS_BOARD, client, create_variables, fake, open_client

__all__ = ["client", "fake"]

MiB = 1024 * 1024


async def failing(client: MondayClient, **kwargs: Any) -> JobError:
    with pytest.raises(JobError) as caught:
        await client.call(
            operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD, **kwargs
        )
    return caught.value


# -- 8: bounded answers ------------------------------------------------------------


async def test_an_answer_over_max_response_bytes_is_cut_off_and_retried(
    fake: FakeMonday, client: MondayClient
) -> None:
    fake.faults.answer_raw(b'{"data": {"create_item": {"id": "', size=20 * MiB)
    error = await failing(client)
    assert isinstance(error, MondayUnavailable) and classify(error) == Kind.RETRYABLE
    assert str(error) == (
        "monday HTTP 200: the answer to create_item is larger than max_response_bytes "
        f"({4 * MiB} bytes); not read"
    )
    # The connection is not left half read: the next call works.
    await client.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)


async def test_max_response_bytes_is_configurable_and_a_declared_length_is_enough(
    fake: FakeMonday,
) -> None:
    client = await open_client(fake, max_response_bytes=2048)
    fake.faults.answer_raw(b"{}" + b" " * 4096, headers={"Content-Length": str(4098)})
    try:
        error = await failing(client)
        assert "larger than max_response_bytes (2048 bytes)" in str(error)
        await client.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
    finally:
        await client.stop()


# -- 9: no redirects ------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_the_mutation_not_posted_elsewhere(
    fake: FakeMonday, client: MondayClient, status: int
) -> None:
    async with FakeMonday() as elsewhere:
        fake.faults.redirect(elsewhere.url, status=status)
        variables = create_variables()
        key = idempotency_key(uuid.uuid4(), operations.CREATE_ITEM, variables)
        with pytest.raises(MondayUnavailable) as caught:
            await client.call(
                operations.CREATE_ITEM, variables, board_id=CONTACTS_BOARD, idempotency_key=key
            )
        assert elsewhere.requests == 0
    assert classify(caught.value) == Kind.RETRYABLE
    message = str(caught.value)
    assert message.startswith(f"monday HTTP {status} ")
    assert "does not follow redirects" in message and elsewhere.url in message
    assert fake.boards.on_board(CONTACTS_BOARD) == []


# -- 10: 413 ----------------------------------------------------------------------------


@pytest.mark.parametrize("json_body", [True, False], ids=["monday's error", "a gateway's page"])
async def test_413_is_permanent_and_says_the_data_is_too_large(
    fake: FakeMonday, client: MondayClient, json_body: bool
) -> None:
    if json_body:
        fake.faults.fail(413)
    else:
        fake.faults.answer_raw(
            b"<html><body>413 Request Entity Too Large</body></html>", status=413
        )
    error = await failing(client)
    assert isinstance(error, MondayRefused) and classify(error) == Kind.PERMANENT
    assert str(error).startswith("monday HTTP 413 ")
    assert "the data is too large for monday" in str(error)


# -- 11: messages --------------------------------------------------------------------------


async def test_an_http_failure_names_its_status(fake: FakeMonday, client: MondayClient) -> None:
    fake.faults.fail(500)
    error = await failing(client)
    assert str(error) == "monday HTTP 500 INTERNAL_SERVER_ERROR: Internal server error"
    fake.faults.answer_raw(b"upstream connect error", status=502)
    error = await failing(client)
    assert str(error) == "monday HTTP 502 BAD_GATEWAY: not a JSON object"


GARBAGE: dict[str, tuple[int, bytes, str]] = {
    "random bytes": (200, random.Random(7).randbytes(300), "is not JSON"),
    "invalid UTF-8 in JSON": (200, b'{"data": "\xff\xfe"}', "is not JSON"),
    "deep nesting": (200, b"[" * 100_000, "is not JSON"),
    "a list": (200, b"[1, 2]", "unexpected shape (no data object: a list)"),
    "a string": (200, b'"abc"', "unexpected shape (no data object: a str)"),
    "null": (200, b"null", "unexpected shape"),
    "data not an object": (200, b'{"data": 5}', "unexpected shape"),
    "errors not a list": (500, b'{"errors": 5}', "monday HTTP 500 INTERNAL_SERVER_ERROR"),
    "extensions not an object": (
        200,
        b'{"errors": [{"message": "no", "extensions": "x"}]}',
        "monday UNKNOWN: no",
    ),
    "status_code abc": (
        500,
        b'{"errors": [{"message": "no", "extensions": {"code": "E", "status_code": "abc"}}]}',
        "monday HTTP 500 E: no",
    ),
    "legacy, error_data a list": (
        500,
        b'{"error_code": "E", "status_code": "abc", "error_data": [], "error_message": "no"}',
        "monday HTTP 500 E: no",
    ),
    "a code with control characters": (
        500,
        b'{"errors": [{"message": "no", "extensions": {"code": "E\\u001b[2J"}}]}',
        "monday HTTP 500 E2J: no",
    ),
    "infinite retry_in_seconds": (
        429,
        b'{"errors": [{"message": "slow", "extensions": {"retry_in_seconds": Infinity}}]}',
        "not a usable number",
    ),
    "retry_in_seconds 1e999": (
        429,
        b'{"errors": [{"message": "slow", "extensions": {"retry_in_seconds": 1e999}}]}',
        "not a usable number",
    ),
    "Retry-After a bad date": (429, b'{"errors": [{"message": "slow"}]}', "monday HTTP 429"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
async def test_an_unparseable_answer_gets_a_message_that_says_so(
    fake: FakeMonday, client: MondayClient, case: str
) -> None:
    status, body, said = GARBAGE[case]
    headers = {"Retry-After": "Mon, 99 Foo 10000 25:61:61 -0000"} if "date" in case else {}
    fake.faults.answer_raw(body, status=status, headers=headers)
    error = await failing(client)
    message = str(error)
    assert said in message, message
    for raw in ("UnicodeDecodeError", "AttributeError", "OverflowError", "TypeError", "\x1b"):
        assert raw not in message
    assert classify(error) != Kind.PERMANENT
