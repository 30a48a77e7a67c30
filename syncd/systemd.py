"""sd_notify: tell systemd we are ready, alive, busy with what, and stopping.

The protocol is one datagram per message to the AF_UNIX socket named in
$NOTIFY_SOCKET (a path, or an abstract name written with a leading '@'), holding
newline-separated VAR=value assignments. It is small enough to speak without
libsystemd. Without $NOTIFY_SOCKET (not under systemd) every call is a no-op, and a
failed send is logged once and never raised: the daemon's work matters more than
its reports about it.

When to call what (systemd.service(5), sd_notify(3)):
  ready()      once connected and listening: systemctl start returns, dependents start
  status(...)  whenever what the daemon is doing changes ("waiting for database")
  watchdog()   every watchdog_interval() seconds, and only while healthy: a missed
               ping makes systemd kill and restart us (WatchdogSec=)
  reloading()  on SIGHUP before re-reading config, then ready() when done
  stopping()   as soon as shutdown begins, so systemctl shows "deactivating"
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping

from syncd import logs

# A send must never stall the event loop for long: PID 1 drains this socket quickly,
# and if it does not, a lost STATUS line is better than a frozen daemon.
_SEND_TIMEOUT_S = 1.0


class Notifier:
    """The daemon's one channel to systemd; a no-op when not started by it."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw)
        # Set but in a form we do not speak (vsock:, a relative path): say so once.
        self._unsupported = raw if raw and self._address is None else None
        self._watchdog_usec = watchdog_usec(env, os.getpid() if pid is None else pid)
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of WatchdogSec (as sd_watchdog_enabled(3)
        advises, so one late ping is not fatal), or None when the watchdog is off."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *_status(status))

    def status(self, text: str) -> None:
        self.send(*_status(text))

    def watchdog(self) -> None:
        # systemd ignores pings it did not ask for; not sending them keeps strace quiet.
        if self._watchdog_usec is not None:
            self.send("WATCHDOG=1")

    def reloading(self, status: str | None = None) -> None:
        """RELOADING=1 with the CLOCK_MONOTONIC timestamp that Type=notify-reload
        (systemd 253+) needs to match the reload to its request; send ready() after."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", *_status(status))

    def stopping(self, status: str | None = None) -> None:
        self.send("STOPPING=1", *_status(status))

    def send(self, *assignments: str) -> bool:
        """Send assignments as one datagram; True if it was handed to the socket."""
        if self._address is None:
            if self._unsupported is not None:
                self._warn_once(f"unsupported NOTIFY_SOCKET {self._unsupported!r}")
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendto(data, self._address)
            return True
        except (OSError, ValueError) as exc:  # ValueError: a NUL inside a path
            self._warn_once(str(exc))
            return False

    def _warn_once(self, error: str) -> None:
        # A socket that fails once fails every few seconds; one line says it all.
        if not self._warned:
            self._warned = True
            logs.get().warning("systemd.notify_failed", error=error)


def watchdog_usec(env: Mapping[str, str], pid: int) -> int | None:
    """WatchdogSec in microseconds if the watchdog is on for process `pid`, else None.

    As sd_watchdog_enabled(3): $WATCHDOG_PID, when set, must name this very process,
    so that a child that inherited the environment (a document worker, a shell that
    exec'd us) does not ping on behalf of the main process.
    """
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner is not None:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    return usec


def _address(value: str) -> str | bytes | None:
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock: and other forms are not ours to speak


def _status(text: str | None) -> list[str]:
    # A newline would end the assignment and start a bogus one; systemd shows one line.
    if text is None:
        return []
    return ["STATUS=" + " ".join(text.splitlines())]


@contextlib.contextmanager
def signals(stop: Callable[[], None], reload: Callable[[], None]) -> Iterator[None]:
    """While inside: SIGTERM and SIGINT call `stop` (systemctl stop, Ctrl-C) and
    SIGHUP calls `reload` (systemctl reload). Where the event loop cannot take
    signal handlers (not the main thread, Windows), they keep their defaults."""
    loop = asyncio.get_running_loop()
    wanted = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    for sig, callback in wanted.items():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
    try:
        yield
    finally:
        for sig in wanted:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
