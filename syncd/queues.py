"""The two queues, each described once: everything that differs between them is here.

A `Queue` holds its table, its NOTIFY channel, how a row becomes a `Job`, what
the registry routes its jobs on (their *kind*), what names a job in the logs
(its *subject*), its claim statement and the check a job's payload must pass.
The rest of syncd asks the queue and never names one. A third queue is one more
`Queue(...)` in `QUEUES` below, its claim_<name>.sql, and a migration for its
table.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from syncd import queries
from syncd.job import DOCUMENTS, SYNC, Job


@dataclass(frozen=True, slots=True)
class Queue:
    name: str  # what operators type: `syncd retry sync ...`
    table: str
    channel: str
    # The job's own columns, beyond those every queue has; the subject's columns.
    columns: tuple[str, ...]
    subject_columns: tuple[str, ...]
    # What the registry routes on, and how an operator calls it.
    kind_column: str
    kind_label: str
    # How `syncd status` names a job in one line, from its row.
    line: str
    # What its jobs are about, in the operator's words ("the entity's other jobs"), the
    # filter option naming one (`--entity ID`), and the statement listing that one's
    # jobs, with the row's columns it takes before the limit.
    about: str
    about_option: str
    about_jobs: str
    about_columns: tuple[str, ...]
    # Whether its jobs leave monday items behind, for a job page to show.
    monday_items: bool = False
    # The columns under which it keeps one pending job (a partial unique index on them
    # WHERE status = 'pending', with its merge on INSERT), if it does: a job bound back
    # to pending while another of its key is pending folds into that one instead
    # (write_outcomes.sql, rescue.sql, rescue_forgotten.sql).
    one_pending: tuple[str, ...] = ()

    def sql(self, name: str) -> str:
        """The statement ``queries/<name>.sql`` for this queue."""
        return _sql(name, self.table, self.one_pending)

    @property
    def claim(self) -> str:
        return queries.load(f"claim_{self.name}")

    def job(self, row: Mapping[str, Any]) -> Job:
        # The payload is kept as it is, even when not an object: the worker fails
        # such a job with a message rather than run it on data the application
        # never sent (payload_problem).
        return Job(
            queue=self.name,
            id=row["id"],
            attempt=row["attempts"],
            max_attempts=row["max_attempts"],
            operation=row["operation"],
            **{c: row[c] for c in self.columns},
        )

    def kind(self, job: Job) -> str:
        return getattr(job, self.kind_column) or ""

    def subject(self, job: Job) -> dict[str, Any]:
        """The fields that name what the job is about, for log events."""
        return {c: _plain(getattr(job, c)) for c in self.subject_columns}

    def describe(self, row: Mapping[str, Any]) -> str:
        return self.line.format(**dict(row))

    def payload_problem(self, job: Job) -> str | None:
        """Why the job cannot be given to a handler as it stands, if it cannot."""
        if "payload" in self.columns and not isinstance(job.payload, dict):
            return "malformed payload: expected a JSON object, got " + _json_type(job.payload)
        return None


SYNC_QUEUE = Queue(
    SYNC,
    table="sync_queue",
    channel="syncd_sync_queue",
    columns=("entity_type", "entity_id", "direction", "payload"),
    subject_columns=("entity_type", "entity_id", "direction", "operation"),
    # Each entity type can go to a different place.
    kind_column="entity_type",
    kind_label="entity type",
    line="{entity_type} {entity_id} {operation} {direction}",
    about="entity",
    about_option="--entity",
    about_jobs="entity_jobs",
    about_columns=("entity_id", "entity_type"),
    monday_items=True,
    one_pending=("entity_type", "entity_id", "direction"),  # ux_sync_queue_one_pending
)
DOCUMENT_QUEUE = Queue(
    DOCUMENTS,
    table="document_processing_queue",
    channel="syncd_document_queue",
    columns=("document_id",),
    subject_columns=("document_id", "operation"),
    kind_column="operation",
    kind_label="operation",
    line="document {document_id} {operation}",
    about="document",
    about_option="--document",
    about_jobs="document_jobs",
    about_columns=("document_id",),
)
QUEUES = {q.name: q for q in (SYNC_QUEUE, DOCUMENT_QUEUE)}


def queue_of(job: Job) -> Queue:
    return QUEUES[job.queue]


def named(name: str) -> Queue:
    """The queue an operator named; a clear error for any other word."""
    try:
        return QUEUES[name]
    except KeyError:
        known = " or ".join(repr(n) for n in QUEUES)
        raise ValueError(f"unknown queue {name!r}: expected {known}") from None


def job_fields(job: Job, **extra: Any) -> dict[str, Any]:
    """The fields every job event carries."""
    # Built for every job (its bound logger, its outcome's event): spelled out
    # rather than through subject(), a fifth of the daemon's time on no-op jobs.
    fields = {
        "queue": job.queue,
        "job_id": str(job.id),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
    }
    for column in QUEUES[job.queue].subject_columns:
        value = getattr(job, column)
        fields[column] = str(value) if isinstance(value, uuid.UUID) else value
    if extra:
        fields.update(extra)
    return fields


@cache
def _sql(name: str, table: str, one_pending: tuple[str, ...]) -> str:
    # Statements shared by the queues name their table as {table}, and as {sibling}
    # the test that a job `s` shares a job `q`'s one-pending key: always false in a
    # queue without one, which the planner then never looks in. Both are filled in
    # from a Queue, never from user input.
    sibling = "false"
    if one_pending:
        ours, theirs = (", ".join(f"{alias}.{c}" for c in one_pending) for alias in "sq")
        sibling = f"({ours}) = ({theirs})"
    return queries.load(name).replace("{table}", table).replace("{sibling}", sibling)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
