"""The extractor processes the daemon hands files to, and takes back from when they hang.

A `concurrent.futures.ProcessPoolExecutor` cannot stop one stuck task: its only
remedy is to break the whole pool. Here each slot owns one process, talks to it
over its stdin/stdout with asyncio streams (so the event loop never blocks on a
pipe), and kills exactly that process when a file runs past `documents.timeout`
or the job is cancelled. The slot then starts a fresh process on its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from syncd import logs
from syncd.handlers.documents.file_to_text import Extraction, Request
from syncd.handlers.documents.frames import DEFAULT_FUNCTION, EXTRACTOR_MODULE, REPLY, REQUEST

if TYPE_CHECKING:
    import asyncpg

    from syncd.handlers.documents.settings import DocumentSettings

_START_TIMEOUT = 60.0  # a fresh interpreter importing pypdf, on a loaded host
_STOP_GRACE = 2.0


class Failed(Exception):
    """The extractor answered that the file cannot be extracted (`reason` says why)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TimedOut(Exception):
    """The extractor ran past `documents.timeout` and was killed."""


class Died(Exception):
    """The extractor process ended in the middle of a file (crash, OOM killer)."""


class _Process:
    """One extractor process and its pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.files = 0

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def read_reply(self) -> tuple[dict[str, Any], bytes]:
        assert self.proc.stdout is not None
        try:
            header_length, text_length = REPLY.unpack(
                await self.proc.stdout.readexactly(REPLY.size)
            )
            header: dict[str, Any] = json.loads(await self.proc.stdout.readexactly(header_length))
            text = await self.proc.stdout.readexactly(text_length)
        except asyncio.IncompleteReadError:
            raise Died(await self._death()) from None
        return header, text

    async def send(self, request: Request) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(asdict(request)).encode("utf-8")
        try:
            self.proc.stdin.write(REQUEST.pack(len(body)) + body)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise Died(await self._death()) from None

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def _death(self) -> str:
        # The pipe closes as the process dies; its exit status follows a moment later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout=5)
        code = self.proc.returncode
        if code is None:
            return f"extractor process {self.proc.pid} closed its pipe"
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return f"extractor process {self.proc.pid} died ({how})"


class ExtractorPool:
    """A `Service`: extractor processes shared by every document job of a daemon.

    `function` names what the processes run per file ("module:function"); tests
    point it at a function that hangs or balloons to watch the pool recover.
    """

    def __init__(
        self, settings: DocumentSettings, size: int, function: str = DEFAULT_FUNCTION
    ) -> None:
        self.settings = settings
        self.size = size
        self.function = function
        self.log = logs.get(component="extractors")
        # A slot holds its process, or None until it next needs one.
        self._slots: asyncio.Queue[_Process | None] = asyncio.Queue()
        for _ in range(size):
            self._slots.put_nowait(None)
        self._processes: set[_Process] = set()
        self._reaping: set[asyncio.Future[int]] = set()
        self._warming: asyncio.Future[list[None]] | None = None
        self._stopped = False
        # Hears of every process replaced (syncd_extractor_restarts_total).
        self.on_retire: Callable[[], None] = lambda: None

    async def start(self, pool: asyncpg.Pool | None = None) -> None:
        """Start every process, in the background.

        The first documents then need not wait for a fresh interpreter's imports
        (about a second each on a small host), and neither does the daemon's
        readiness: sync jobs run meanwhile, and a document job takes the first
        process that is up. `warmed()` waits for all of them.
        """
        self._stopped = False
        if self._warming is not None and not self._warming.done():
            return  # already starting them
        slots = [self._slots.get_nowait() for _ in range(self._slots.qsize())]
        self._warming = asyncio.gather(*(self._warm(slot) for slot in slots))
        # Cancelled by stop(), or by the loop's end with nobody waiting: not an error.
        self._warming.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def warmed(self) -> None:
        """Until every process that `start` began is up (or has failed to start)."""
        if self._warming is not None:
            await asyncio.wait([self._warming])

    async def _warm(self, process: _Process | None) -> None:
        try:
            if process is None:
                process = await self._start_process()
        except asyncio.CancelledError:
            process = None
            raise
        except Exception as exc:
            # Not fatal: the slot tries again when a document needs it.
            self.log.warning("document.extractor_start_failed", error=str(exc))
            process = None
        finally:
            self._slots.put_nowait(process)

    async def stop(self) -> None:
        """Close every process's stdin, then kill what has not exited after a grace."""
        self._stopped = True
        if self._warming is not None:
            self._warming.cancel()  # a process still starting is killed as it stands
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        processes = list(self._processes)
        self._processes.clear()
        for process in processes:
            if process.proc.stdin is not None:
                process.proc.stdin.close()
        exits = [asyncio.ensure_future(p.proc.wait()) for p in processes]
        if exits:
            await asyncio.wait(exits, timeout=_STOP_GRACE)
            for process in processes:
                process.kill()
        await asyncio.gather(*exits, *self._reaping, return_exceptions=True)

    @property
    def pids(self) -> list[int]:
        """The live extractor processes (for tests and the bench)."""
        return [p.proc.pid for p in self._processes if p.alive]

    async def extract(self, request: Request) -> Extraction:
        """Run one file through a free process. Raises Failed, TimedOut or Died."""
        if self._stopped:
            raise Died("the extractor pool is stopped")
        process = await self._slots.get()
        try:
            if self._stopped:
                raise Died("the extractor pool is stopped")
            if process is not None and not process.alive:
                self._retire(process)  # died while idle (OOM killer, an operator)
                process = None
            if process is None:
                process = await self._start_process()
            header, text = await self._ask(process, request)
        except BaseException:
            # Timed out, died, or the job was cancelled mid-file: whatever the
            # process is doing now, nobody wants it. The slot starts afresh.
            if process is not None:
                self._retire(process)
            self._slots.put_nowait(None)
            raise
        process.files += 1
        if header.get("retire") or process.files >= self.settings.recycle_after:
            self._retire(process)
            process = None
        self._slots.put_nowait(process)
        if not header["ok"]:
            raise Failed(header["reason"], header["message"])
        return Extraction(
            text=text,
            page_count=header["page_count"],
            word_count=header["word_count"],
            sha256=header["sha256"],
            size_bytes=header["size_bytes"],
            detected_type=header["detected_type"],
            metadata=header["metadata"],
            search_chars=header["search_chars"],
        )

    async def _ask(self, process: _Process, request: Request) -> tuple[dict[str, Any], bytes]:
        timeout = self.settings.timeout
        try:
            async with asyncio.timeout(timeout):
                await process.send(request)
                return await process.read_reply()
        except TimeoutError:
            raise TimedOut(
                f"timed out: extraction ran past documents.timeout ({timeout:g} s); "
                f"the extractor process ({process.proc.pid}) was killed"
            ) from None

    async def _start_process(self) -> _Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            EXTRACTOR_MODULE,
            self.function,
            str(self.settings.memory_limit),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_child_environment(sys.path),
        )
        process = _Process(proc)
        self._processes.add(process)
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                header, _ = await process.read_reply()
        except BaseException:
            self._retire(process)
            raise
        if not header.get("ready"):
            self._retire(process)
            raise Died(f"extractor process {proc.pid} did not start: {header}")
        return process

    def _retire(self, process: _Process) -> None:
        process.kill()
        self._processes.discard(process)
        self.on_retire()
        # Reap it in the background: a killed process is gone within milliseconds,
        # and nobody should wait for that on a job's time.
        task = asyncio.ensure_future(process.proc.wait())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)


def _child_environment(path: Iterable[str]) -> dict[str, str]:
    # The extractor must import the very code the daemon runs (a checkout, a test
    # hook), whatever the working directory: hand it our import path.
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
