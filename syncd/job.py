"""What a job is, depending on nothing: the queue names and one claimed attempt.

The core and the handler plugins both speak of `Job`; it lives here, below both,
so that neither has to import the other to name it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

SYNC = "sync"
DOCUMENTS = "documents"


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed attempt of a job, as a handler sees it."""

    queue: str
    id: uuid.UUID
    attempt: int
    max_attempts: int
    operation: str
    # sync queue
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    direction: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # document queue
    document_id: uuid.UUID | None = None
