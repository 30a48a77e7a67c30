"""Two daemons, 2,000 mixed jobs, the same 50 entities changed again and again (SPEC §3).

No job may run twice at once, no entity may be pushed by two jobs at once (two
concurrent creates would make two monday items), and when the dust settles monday
must hold exactly what the database holds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from tests.faults.support import (
    INDUSTRIES,
    Fleet,
    Monday,
    add_organization,
    assert_monday_matches_the_rows,
    drained,
)
from tests.support import add_contact, add_document, ready
from tests.support.monday import CONTACTS_BOARD, ORGANIZATIONS_BOARD

pytestmark = pytest.mark.faults

ROUNDS = 20
ENTITIES = 25  # of each type
PROBES_PER_ROUND = 45
DOCUMENTS_PER_ROUND = 5
DELETED = 5  # of each type, in the last round


async def change_round(
    conn: asyncpg.Connection,
    n: int,
    contacts: list[uuid.UUID],
    organizations: list[uuid.UUID],
    probes: list[uuid.UUID],
    documents: list[uuid.UUID],
) -> None:
    """One round of the host application's changes: 100 queue inserts."""
    gone = DELETED if n == ROUNDS - 1 else 0
    async with conn.transaction():  # a row and its queue entry change together
        await change_entities(conn, n, gone, contacts, organizations)
    await conn.executemany(
        "INSERT INTO sync_queue (entity_type, entity_id, payload) VALUES ('probe', $1, $2)",
        [
            (probes[(n * PROBES_PER_ROUND + k) % len(probes)], {"sleep": 0.005})
            for k in range(PROBES_PER_ROUND)
        ],
    )
    start = n * DOCUMENTS_PER_ROUND
    await conn.executemany(
        "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract')",
        [(d,) for d in documents[start : start + DOCUMENTS_PER_ROUND]],
    )


async def change_entities(
    conn: asyncpg.Connection,
    n: int,
    gone: int,
    contacts: list[uuid.UUID],
    organizations: list[uuid.UUID],
) -> None:
    """Every entity changed and enqueued; the first `gone` of each type deleted instead."""
    await conn.executemany(
        "UPDATE contacts SET email = $2, title = $3 WHERE id = $1",
        [(c, f"c{i}.r{n}@example.com", f"Title {n}") for i, c in enumerate(contacts[gone:])],
    )
    await conn.executemany(
        "UPDATE organizations SET website = $2, industry = $3 WHERE id = $1",
        [
            (o, f"https://o{i}.r{n}.example.com", INDUSTRIES[(i + n) % 3])
            for i, o in enumerate(organizations[gone:])
        ],
    )
    if gone:
        await conn.execute("DELETE FROM contacts WHERE id = ANY($1)", contacts[:gone])
        await conn.execute("DELETE FROM organizations WHERE id = ANY($1)", organizations[:gone])
    entities = [("contact", c) for c in contacts] + [("organization", o) for o in organizations]
    await conn.executemany(
        "INSERT INTO sync_queue (entity_type, entity_id, operation) VALUES ($1, $2, $3)",
        [
            (kind, entity, "delete" if i % ENTITIES < gone else "upsert")
            for i, (kind, entity) in enumerate(entities)
        ],
    )


async def test_two_daemons_2000_jobs_no_job_or_entity_runs_twice_at_once(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday, storage: Path
) -> None:
    # A little latency at monday widens each push, so an overlap could not slip by.
    monday.call(setattr, monday.fake, "latency", 0.005)
    daemons = [fleet.start(syncd_url, SYNCD_DAEMON__RESCUE_AFTER="10") for _ in range(2)]
    contacts = [
        await add_contact(conn, first_name=f"Ada{i}", email=f"c{i}@example.com")
        for i in range(ENTITIES)
    ]
    organizations = [await add_organization(conn, i) for i in range(ENTITIES)]
    probes = [uuid.uuid4() for _ in range(450)]  # each takes two changes, far apart
    documents = []
    for i in range(ROUNDS * DOCUMENTS_PER_ROUND):
        name = f"doc{i}.md" if i % 2 else f"doc{i}.txt"
        (storage / name).write_text(f"# Note {i}\n\nSome words about item {i}.\n")
        documents.append(await add_document(conn, name))
    await ready(*daemons)
    for n in range(ROUNDS):
        await change_round(conn, n, contacts, organizations, probes, documents)
        await asyncio.sleep(0.2)
    await drained(conn, timeout=180)
    assert [d.stop() for d in daemons] == [0, 0]

    # Every job ran once: one attempt, one outcome, nothing rescued or fenced. The only
    # failure allowed: an upsert that was running when its row was deleted (permanent,
    # SPEC §3); the delete job queued behind it still archives the item.
    odd = await conn.fetch(
        "SELECT entity_type, entity_id, status, attempts, error_message FROM sync_queue "
        "WHERE NOT (status = 'completed' AND attempts = 1) "
        "UNION ALL SELECT 'document', document_id, status, attempts, error_message "
        "FROM document_processing_queue WHERE NOT (status = 'completed' AND attempts = 1)"
    )
    deleted = set(contacts[:DELETED] + organizations[:DELETED])
    for row in odd:
        kind, entity = row["entity_type"], row["entity_id"]
        assert entity in deleted and (row["status"], row["attempts"]) == ("failed", 1)
        assert row["error_message"] == f"{kind} {entity} not found in table {kind}s"
    ids = [
        str(r["id"])
        for table in ("sync_queue", "document_processing_queue")
        for r in await conn.fetch(f"SELECT id FROM {table} WHERE status = 'completed'")
    ]
    # Pending changes to one entity merge (SPEC §2), so 1,000 changes make fewer jobs;
    # still, each entity was pushed again and again.
    pushes = "SELECT count(*) FROM sync_queue WHERE entity_type <> 'probe'"
    assert await conn.fetchval(pushes) >= 4 * ENTITIES
    completions = Counter(e["job_id"] for e in fleet.events("job.completed"))
    assert sorted(completions) == sorted(ids) and set(completions.values()) == {1}
    assert all(d.named("job.completed") for d in daemons)  # both did their share
    assert not fleet.events("job.rescued") and not fleet.events("job.fenced")

    # No entity was worked on by two jobs at once: not in syncd's own record of each
    # job's span, not in the probe's runs, not at monday.
    overlapping = await conn.fetchval(
        "SELECT count(*) FROM sync_queue a JOIN sync_queue b "
        "ON a.entity_type = b.entity_type AND a.entity_id = b.entity_id AND a.id <> b.id "
        "AND a.started_at <= b.started_at AND b.started_at < a.completed_at"
    )
    assert overlapping == 0
    probe_overlaps = await conn.fetchval(
        "SELECT count(*) FROM probe_runs a JOIN probe_runs b "
        "ON a.entity_id = b.entity_id AND a.run_id < b.run_id "
        "AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
    )
    assert probe_overlaps == 0
    assert await conn.fetchval("SELECT count(*) FROM probe_runs") == await conn.fetchval(
        "SELECT count(*) FROM sync_queue WHERE entity_type = 'probe'"
    )
    assert monday.call(lambda: list(monday.fake.overlaps)) == []

    # monday holds what the database holds: the last values, and nothing of the deleted.
    await assert_monday_matches_the_rows(conn, monday)
    archived = {
        i.values["text_syncd_id"]
        for board in (CONTACTS_BOARD, ORGANIZATIONS_BOARD)
        for i in monday.items(board, state="archived")
    }
    assert archived == {str(e) for e in contacts[:DELETED] + organizations[:DELETED]}
    assert await conn.fetchval("SELECT count(*) FROM monday_items") == 2 * (ENTITIES - DELETED)
    assert await conn.fetchval("SELECT count(*) FROM document_extractions") == len(documents)
