"""The real daemon, as `syncd run` starts it, inside the demo's process on a thread of its own.

Why a thread: while `Worker.run()` runs it takes SIGINT and SIGTERM for itself,
and when it ends it hands them back to their default action. In the demo a signal
must still stop PostgreSQL after the daemon has stopped, and a second Ctrl-C must
not kill the process half-way through that. Signal handlers can only be set on the
main thread, so on its own thread the daemon leaves them to the demo, which stops
it with `Worker.stop()`, just as the signal would have.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading

from syncd import handlers
from syncd.config import Settings
from syncd.demo.workspace import DemoError
from syncd.errors import describe
from syncd.worker import Worker


class DaemonThread:
    def __init__(self, settings: Settings) -> None:
        try:
            registry = handlers.load(settings)
        except handlers.PluginError as exc:  # an installed plugin is broken
            raise DemoError(str(exc)) from None
        self._worker = Worker(settings, registry)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="syncd-daemon", daemon=True)
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        # Why the daemon ended on its own (a side loop died), if it did.
        self.error: str | None = None

    @property
    def ended(self) -> bool:
        return self._ended.done()

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        """Stop claiming, give running jobs `shutdown_grace`, and wait until it has ended."""
        if self._thread.ident is None:  # never started
            self._loop.close()
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: it has ended already
            self._loop.call_soon_threadsafe(self._worker.stop)
        # Shielded: a caller cancelled while waiting must not cancel the end itself,
        # or a second stop() would not wait for it.
        await asyncio.shield(asyncio.wrap_future(self._ended))

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._worker.run())
        except BaseException as exc:  # SystemExit(1) when a side loop died
            self.error = describe(exc)
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()
            self._ended.set_result(None)
