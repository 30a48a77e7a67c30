"""A stand-in for systemd's notify socket, for tests of sd_notify.

    with notify_socket() as sock:                   # or notify_socket(abstract=True)
        proc = subprocess.Popen([...], env={**os.environ, **sock.env(watchdog_usec=2_000_000)})
        sock.wait_for("READY=1")                    # blocks up to `timeout`, then fails
        proc.send_signal(signal.SIGTERM)
        sock.wait_for("STOPPING=1")
        assert sock.order("READY=1", "WATCHDOG=1", "STOPPING=1")
        assert {m.pid for m in sock.messages} == {proc.pid}   # as NotifyAccess=main wants

Like PID 1 it turns on SO_PASSCRED, so each message carries the sender's pid.
From an async test, call the blocking waits through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Message:
    """One datagram: its raw bytes, its assignments, and the pid that sent it."""

    data: bytes
    pid: int | None

    @property
    def fields(self) -> list[str]:
        return self.data.decode("utf-8", "replace").split("\n")


class NotifySocket:
    def __init__(self, sock: socket.socket, address: str) -> None:
        self._sock = sock
        self.address = address  # the value for $NOTIFY_SOCKET
        self.messages: list[Message] = []

    def env(
        self, watchdog_usec: int | None = None, watchdog_pid: int | None = None
    ) -> dict[str, str]:
        """Environment for a process under test. Leave watchdog_pid out for a child that
        is not yet started: without $WATCHDOG_PID the watchdog applies to whoever reads it."""
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        return env

    def receive(self, timeout: float = 10.0) -> Message:
        """The next datagram; TimeoutError if none arrives in time."""
        self._sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self._sock.recvmsg(65536, socket.CMSG_SPACE(_CREDS.size))
        except TimeoutError:
            raise TimeoutError(f"no sd_notify message within {timeout}s") from None
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _CREDS.unpack(payload[: _CREDS.size])[0]
        message = Message(data, pid)
        self.messages.append(message)
        return message

    def wait_for(self, assignment: str, timeout: float = 30.0) -> Message:
        """Collect messages until one holds `assignment` ("READY=1", or a prefix such as
        "STATUS=" when it ends in '='); fail with what did arrive if none does in time."""
        for message in self.messages:
            if _holds(message, assignment):
                return message
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = self.receive(max(left, 0.001))
            except TimeoutError:
                raise TimeoutError(
                    f"no {assignment!r} within {timeout}s; got {self.assignments()}"
                ) from None
            if _holds(message, assignment):
                return message

    def assignments(self) -> list[str]:
        """Every assignment received so far, in arrival order."""
        return [field for message in self.messages for field in message.fields]

    def order(self, *assignments: str) -> bool:
        """True if each assignment first arrived after the one before it."""
        seen = self.assignments()
        try:
            firsts = [seen.index(a) for a in assignments]
        except ValueError:
            return False
        return firsts == sorted(firsts)


def _holds(message: Message, assignment: str) -> bool:
    if assignment.endswith("="):
        return any(field.startswith(assignment) for field in message.fields)
    return assignment in message.fields


@contextmanager
def notify_socket(abstract: bool = False) -> Iterator[NotifySocket]:
    """A bound AF_UNIX datagram socket: a file in a fresh temp dir, or an abstract name."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    directory = None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"syncd-test-{uuid.uuid4().hex}"
            sock.bind(b"\0" + name.encode())
            address = "@" + name
        else:
            # mkdtemp, not pytest's tmp_path: a socket path must fit in 108 bytes.
            directory = tempfile.mkdtemp(prefix="syncd-notify-")
            address = os.path.join(directory, "notify")
            sock.bind(address)
        yield NotifySocket(sock, address)
    finally:
        sock.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
