"""The demo's data: the host application's rows and files, and the jobs it enqueues.

The rows are plain SQL (crm.sql), as are the jobs (enqueue_*.sql): the statements
an application would run. The files are written under the storage root before
their rows go in, as an upload lands before it is recorded. The jobs come in waves,
each enqueued once the previous one has been worked off, as an application's day
goes: files uploaded, the CRM pushed to monday.com, then a change and a deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import asyncpg

from syncd.demo import uploads


@dataclass(frozen=True, slots=True)
class Wave:
    name: str  # enqueue_<name>.sql
    story: str


WAVES = (
    Wave("documents", "the application enqueues its uploaded files"),
    Wave("crm", "it pushes its CRM to monday.com, and an invoice nothing handles"),
    Wave("changes", "Ada Lovelace gets a new title and Remington Rand is deleted"),
)


@cache
def sql(name: str) -> str:
    """The text of ``syncd/demo/<name>.sql``."""
    return files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def write_uploads(storage_root: Path) -> list[uploads.Upload]:
    made = uploads.build()
    for upload in made:
        if upload.data is None:
            continue
        path = storage_root / upload.storage_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.data)
    return made


async def host_data(conn: asyncpg.Connection, storage_root: Path) -> dict[str, str]:
    """The host application's rows and files; returns a label for each row id."""
    made = write_uploads(storage_root)
    async with conn.transaction():
        await conn.execute(sql("crm"))
        await conn.executemany(
            "INSERT INTO documents (filename, content_type, storage_path, size_bytes) "
            "VALUES ($1, $2, $3, $4)",
            [
                (
                    Path(u.storage_path).name,
                    u.content_type,
                    u.storage_path,
                    None if u.data is None else len(u.data),
                )
                for u in made
            ],
        )
    return {str(row["id"]): row["label"] for row in await conn.fetch(sql("labels"))}


async def enqueue(conn: asyncpg.Connection, wave: Wave) -> None:
    await conn.execute(sql(f"enqueue_{wave.name}"))


async def unfinished(conn: asyncpg.Connection) -> int:
    """Jobs of either queue still pending or processing."""
    count: int = await conn.fetchval(sql("unfinished"))
    return count
