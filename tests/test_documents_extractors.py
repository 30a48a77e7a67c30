"""The extractor processes: files are read off the event loop, and a process that hangs,
balloons or crashes is put down and replaced without taking the pool with it.

The pathological behaviour comes from hooks in tests/support/documents.py that the
pool runs instead of the real extraction, so no test waits on a file crafted to be
slow on this machine's CPU.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from syncd.handlers.documents.file_to_text import extract
from syncd.handlers.documents.pool import Died, ExtractorPool, Failed, TimedOut
from syncd.handlers.documents.settings import DocumentSettings
from tests.support.documents import pdf_bytes, request_for, write

Pools = Callable[..., ExtractorPool]


@pytest.fixture
async def pools() -> AsyncIterator[Pools]:
    """Make started pools; every one is stopped at the end of the test."""
    made: list[ExtractorPool] = []

    def make(function: str | None = None, size: int = 1, **settings: float) -> ExtractorPool:
        options = {"timeout": 30.0, **settings}
        pool = ExtractorPool(
            DocumentSettings(**options),  # type: ignore[arg-type]
            size=size,
            **({"function": f"tests.support.documents:{function}"} if function else {}),
        )
        made.append(pool)
        return pool

    yield make
    for pool in made:
        await pool.stop()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 20  # a hang guard, not a speed claim
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        await asyncio.sleep(0.02)


async def test_a_process_extracts_exactly_what_the_function_does(
    pools: Pools, tmp_path: Path
) -> None:
    write(tmp_path, "q.pdf", pdf_bytes(["One page of text"]))
    pool = pools(size=2)
    await pool.start()
    await pool.warmed()
    assert len(pool.pids) == 2
    assert os.getpid() not in pool.pids

    request = request_for(tmp_path, "q.pdf")
    assert await pool.extract(request) == extract(request)


async def test_a_refusal_comes_back_with_its_reason(pools: Pools, tmp_path: Path) -> None:
    write(tmp_path, "blank.txt", b"")
    pool = pools()
    await pool.start()
    await pool.warmed()
    with pytest.raises(Failed, match=r"^empty file \(0 bytes\)$") as failed:
        await pool.extract(request_for(tmp_path, "blank.txt"))
    assert failed.value.reason == "empty"
    assert len(pool.pids) == 1  # a refusal is an answer, not a fault: the process stays


async def test_a_hanging_extractor_is_killed_at_the_timeout_and_the_pool_recovers(
    pools: Pools, tmp_path: Path
) -> None:
    write(tmp_path, "evil.txt", b"HANG")
    write(tmp_path, "fine.txt", b"plain words here")
    pool = pools("hang_on_marker", size=1, timeout=2.0)
    await pool.start()
    await pool.warmed()
    [stuck] = pool.pids

    killed = r"^timed out: .*documents\.timeout \(2 s\); the extractor process \(\d+\) was killed$"
    with pytest.raises(TimedOut, match=killed):
        await pool.extract(request_for(tmp_path, "evil.txt"))

    await wait_gone(stuck)
    extraction = await pool.extract(request_for(tmp_path, "fine.txt"))
    assert extraction.word_count == 3
    [fresh] = pool.pids
    assert fresh != stuck


async def test_a_job_cancelled_mid_file_kills_its_extractor(pools: Pools, tmp_path: Path) -> None:
    # The daemon's queue timeout or shutdown cancels the handler: the process
    # must not keep parsing a file nobody waits for.
    write(tmp_path, "evil.txt", b"HANG")
    pool = pools("hang_on_marker", size=1)
    await pool.start()
    await pool.warmed()
    [stuck] = pool.pids

    task = asyncio.create_task(pool.extract(request_for(tmp_path, "evil.txt")))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await wait_gone(stuck)
    write(tmp_path, "fine.txt", b"still works")
    assert (await pool.extract(request_for(tmp_path, "fine.txt"))).word_count == 2


async def test_an_extractor_that_balloons_hits_its_memory_limit_not_the_host(
    pools: Pools, tmp_path: Path
) -> None:
    write(tmp_path, "bomb.txt", b"x")
    pool = pools("balloon", memory_limit=256 * 1024 * 1024)
    await pool.start()
    await pool.warmed()
    [ballooned] = pool.pids

    with pytest.raises(Failed, match=r"more memory than the extractor's limit \(256 MiB\)") as e:
        await pool.extract(request_for(tmp_path, "bomb.txt"))
    assert e.value.reason == "memory"

    await wait_gone(ballooned)  # retired: its heap is not trusted after a MemoryError
    with pytest.raises(Failed, match="memory"):
        await pool.extract(request_for(tmp_path, "bomb.txt"))
    assert ballooned not in pool.pids


async def test_an_extractor_that_crashes_is_reported_and_replaced(
    pools: Pools, tmp_path: Path
) -> None:
    write(tmp_path, "crash.txt", b"x")
    pool = pools("crash")
    await pool.start()
    await pool.warmed()
    [crashed] = pool.pids

    with pytest.raises(Died, match=rf"^extractor process {crashed} died \(signal 11\)$"):
        await pool.extract(request_for(tmp_path, "crash.txt"))
    with pytest.raises(Died):  # the slot started a new process, which crashed too
        await pool.extract(request_for(tmp_path, "crash.txt"))
    assert crashed not in pool.pids


async def test_processes_are_recycled_after_recycle_after_files(
    pools: Pools, tmp_path: Path
) -> None:
    write(tmp_path, "a.txt", b"a")
    pool = pools(recycle_after=2)
    await pool.start()
    await pool.warmed()
    [first] = pool.pids
    await pool.extract(request_for(tmp_path, "a.txt"))
    assert pool.pids == [first]
    await pool.extract(request_for(tmp_path, "a.txt"))
    await wait_gone(first)
    await pool.extract(request_for(tmp_path, "a.txt"))
    assert first not in pool.pids and len(pool.pids) == 1


async def test_stop_leaves_no_process_behind(pools: Pools, tmp_path: Path) -> None:
    pool = pools("hang_on_marker", size=2)
    await pool.start()
    await pool.warmed()
    write(tmp_path, "evil.txt", b"HANG")
    busy = asyncio.create_task(pool.extract(request_for(tmp_path, "evil.txt")))
    await asyncio.sleep(0.3)
    pids = pool.pids
    assert len(pids) == 2

    busy.cancel()
    await asyncio.gather(busy, return_exceptions=True)
    await pool.stop()

    for pid in pids:
        await wait_gone(pid)
    with pytest.raises(Died, match="stopped"):
        await pool.extract(request_for(tmp_path, "evil.txt"))


async def test_an_extractor_ignores_the_terminal_s_ctrl_c(pools: Pools, tmp_path: Path) -> None:
    # SIGINT/SIGTERM reach the whole process group; the daemon decides when
    # extractors stop (after its shutdown grace), not the signal.
    import signal

    pool = pools()
    await pool.start()
    await pool.warmed()
    [pid] = pool.pids
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    write(tmp_path, "a.txt", b"still here")
    assert (await pool.extract(request_for(tmp_path, "a.txt"))).word_count == 2
    assert pool.pids == [pid]


def test_the_settings_need_sane_limits() -> None:
    with pytest.raises(ValueError, match="memory_limit"):
        DocumentSettings(memory_limit=1024)


async def test_start_returns_at_once_and_the_first_file_takes_the_process_it_began(
    pools: Pools, tmp_path: Path
) -> None:
    """The daemon's readiness does not wait for the extractors' imports (a second each)."""
    write(tmp_path, "a.txt", b"first words")
    pool = pools(size=1)
    await pool.start()
    assert pool.pids == []  # nothing is up yet: it all happens in the background
    assert (await pool.extract(request_for(tmp_path, "a.txt"))).word_count == 2
    [pid] = pool.pids
    await pool.warmed()
    assert pool.pids == [pid]  # the file waited for that process rather than start another


async def test_stop_while_the_processes_start_leaves_none_behind(pools: Pools) -> None:
    pool = pools(size=2)
    await pool.start()
    deadline = time.monotonic() + 20
    while len(pool.pids) < 2:  # spawned, still importing
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    pids = pool.pids
    await pool.stop()
    for pid in pids:
        await wait_gone(pid)
    assert pool.pids == []
