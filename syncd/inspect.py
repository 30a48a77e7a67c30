"""Looking at jobs from outside the daemon: `syncd jobs`, `syncd job`, the bulk forms of
`retry` and `cancel`, and the console's pages, all on the same filters.

Every read goes through an index (migration 0010), never a scan of a queue table, so
it answers as fast on ten million rows as on ten.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import TypeAdapter, ValidationError

from syncd import queries
from syncd.config import Duration
from syncd.queues import QUEUES, Queue, named

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
MAX_LIMIT = 1000
BULK_PAGE = 1000
_seconds: TypeAdapter[float] = TypeAdapter(Duration)


class BadFilter(ValueError):
    """A filter the user can fix: printed as one line."""


@dataclass(frozen=True)
class Filters:
    """What `syncd jobs`, the bulk actions and the console's job list select on.

    `subject` is the entity id (sync) or the document id (documents); `kind` the entity
    type (sync) or the operation (documents). `error` searches error messages: on its
    own it looks at failed jobs only, which the live index keeps few.
    """

    status: str | None = None
    subject: uuid.UUID | None = None
    kind: str | None = None
    error: str | None = None
    since: float | None = None  # seconds back from now
    limit: int = 50
    before: tuple[datetime, uuid.UUID] | None = None  # the keyset cursor

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise BadFilter(
                f"unknown status {self.status!r}: expected one of {', '.join(STATUSES)}"
            )
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadFilter(f"limit must be between 1 and {MAX_LIMIT}")

    def query_args(self) -> tuple[Any, ...]:
        status = self.status
        if self.error and status is None:
            status = "failed"
        pattern = None
        if self.error:
            # The user's text is searched for literally, not as a LIKE pattern.
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", self.error) + "%"
        since = None
        if self.since is not None:
            since = datetime.now(UTC) - timedelta(seconds=self.since)
        at, after_id = self.before if self.before else (None, None)
        return (status, self.subject, self.kind, pattern, since, at, after_id, self.limit)


def parse_since(text: str) -> float:
    try:
        return _seconds.validate_python(text)
    except ValidationError:
        raise BadFilter(f"--since {text!r}: expected a duration such as 30m, 6h, 2d") from None


def parse_cursor(text: str) -> tuple[datetime, uuid.UUID]:
    """A cursor printed by `syncd jobs` ("<created_at>/<id>") back into its parts."""
    try:
        at, job_id = text.rsplit("/", 1)
        return datetime.fromisoformat(at), uuid.UUID(job_id)
    except ValueError:
        raise BadFilter(f"not a cursor printed by `syncd jobs`: {text!r}") from None


def cursor_of(row: dict[str, Any]) -> str:
    return f"{row['created_at'].isoformat()}/{row['id']}"


async def reading_session(conn: asyncpg.Connection) -> None:
    """Plan every statement for its own arguments.

    The job list's optional filters fold away only in a custom plan; a generic plan
    (which PostgreSQL may switch to after five runs of a prepared statement) keeps
    `$1 IS NULL OR ...` and can no longer prove that a partial index applies.
    """
    await conn.execute("SET plan_cache_mode = force_custom_plan")


@dataclass
class Page:
    jobs: list[dict[str, Any]]
    next_cursor: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)


async def list_jobs(conn: asyncpg.Connection, queue: Queue, filters: Filters) -> Page:
    rows = await conn.fetch(queries.load(f"jobs_list_{queue.name}"), *filters.query_args())
    jobs = [dict(r) for r in rows]
    more = len(jobs) == filters.limit
    return Page(jobs, cursor_of(jobs[-1]) if more and jobs else None)


async def matching_ids(conn: asyncpg.Connection, queue: Queue, filters: Filters) -> list[uuid.UUID]:
    """Every job the filters select (for a bulk action), read a keyset page at a time."""
    ids: list[uuid.UUID] = []
    page_filters = replace(filters, limit=BULK_PAGE, before=None)
    while True:
        page = await list_jobs(conn, queue, page_filters)
        ids.extend(j["id"] for j in page.jobs)
        if page.next_cursor is None:
            return ids
        page_filters = replace(page_filters, before=parse_cursor(page.next_cursor))


async def bulk_retry(
    conn: asyncpg.Connection, queue: Queue, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Make the chosen failed jobs due now; returns those that were."""
    return await _in_chunks(conn, queries.load(f"retry_jobs_{queue.name}"), ids)


async def bulk_cancel(
    conn: asyncpg.Connection, queue: Queue, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Cancel the chosen pending jobs; returns those that were."""
    return await _in_chunks(conn, queue.sql("cancel_jobs"), ids)


async def _in_chunks(conn: asyncpg.Connection, sql: str, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    # Bounded statements: a bulk action over 100,000 jobs holds no lock for long.
    done: list[uuid.UUID] = []
    for start in range(0, len(ids), BULK_PAGE):
        rows = await conn.fetch(sql, ids[start : start + BULK_PAGE])
        done.extend(r["id"] for r in rows)
    return done


async def audit(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    queue: Queue | None,
    job_ids: list[uuid.UUID],
    **detail: Any,
) -> None:
    await conn.execute(
        queries.load("audit_write"),
        actor,
        action,
        queue.name if queue else None,
        job_ids,
        json.dumps(detail, default=str),
    )


@dataclass
class JobPage:
    queue: str
    job: dict[str, Any]
    attempts: list[dict[str, Any]]
    others: list[dict[str, Any]]
    monday_items: list[dict[str, Any]]


async def job_page(conn: asyncpg.Connection, queue: Queue, job_id: uuid.UUID) -> JobPage | None:
    row = await conn.fetchrow(queue.sql("job_get"), job_id)
    if row is None:
        return None
    job = dict(row)
    attempts = job.pop("attempts_log", None) or []
    if isinstance(attempts, str):  # a connection without syncd's json codec
        attempts = json.loads(attempts)
    about = [job[c] for c in queue.about_columns]
    others = await conn.fetch(queries.load(queue.about_jobs), *about, 20)
    items: list[dict[str, Any]] = []
    if queue.monday_items:
        items = [
            dict(r)
            for r in await conn.fetch(
                queries.load("monday_items_of"), job["entity_type"], job["entity_id"]
            )
        ]
    return JobPage(
        queue.name,
        job,
        list(attempts),
        [dict(r) for r in others if r["id"] != job_id],
        items,
    )


def subject(queue: str, job: Mapping[str, Any]) -> str:
    return QUEUES[queue].describe(job)


def plain(value: Any) -> Any:
    """A value as JSON has it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def queue_named(name: str) -> Queue:
    try:
        return named(name)
    except ValueError as exc:
        raise BadFilter(str(exc)) from None
