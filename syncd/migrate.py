"""`syncd migrate`: the yoyo SQL migrations in syncd/migrations/, applied through psycopg 3."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations


def migrations_dir() -> Path:
    """The migrations inside the installed package, wherever pip put it.

    Found through importlib.resources, not sys.prefix, so that a `--target` or
    `--user` install migrates as well as a virtualenv does.
    """
    return _shipped("migrations")


def grants_file() -> Path:
    """sql/grants.sql inside the installed package: the GRANTs of the two roles (README)."""
    return _shipped("sql/grants.sql")


def _shipped(name: str) -> Path:
    found = resources.files("syncd").joinpath(name)
    if not isinstance(found, Path) or not found.exists():
        raise FileNotFoundError(f"syncd's {name} is not on disk: {found}")
    return found


def yoyo_url(url: str) -> str:
    """yoyo names its driver in the scheme: postgresql+psycopg://."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        parts = parts._replace(scheme="postgresql+psycopg")
    return urlunsplit(parts)


@dataclass(frozen=True)
class Step:
    id: str
    applied: bool


def _backend_and_migrations(url: str):  # type: ignore[no-untyped-def]
    backend = get_backend(yoyo_url(url), migration_table="syncd_migrations")
    return backend, read_migrations(str(migrations_dir()))


def apply(url: str) -> list[str]:
    """Apply what is not applied yet; returns the ids applied (none on a second run)."""
    backend, migrations = _backend_and_migrations(url)
    try:
        with backend.lock():
            todo = backend.to_apply(migrations)
            backend.apply_migrations(todo)
    finally:
        # An idle session left to the garbage collector keeps a database busy
        # (a template cannot be cloned while anyone is connected to it).
        backend.connection.close()
    return [m.id for m in todo]


def rollback(url: str) -> str | None:
    """Roll back the newest applied migration; returns its id, or None if none."""
    backend, migrations = _backend_and_migrations(url)
    try:
        with backend.lock():
            applied = backend.to_rollback(migrations)
            if not applied:
                return None
            newest = applied[:1]
            backend.rollback_migrations(newest)
    finally:
        backend.connection.close()
    return str(newest[0].id)


def listing(url: str) -> list[Step]:
    backend, migrations = _backend_and_migrations(url)
    try:
        applied = backend.get_applied_migration_hashes()
    finally:
        backend.connection.close()
    return [Step(m.id, m.hash in applied) for m in migrations]
