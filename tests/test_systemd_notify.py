"""sd_notify against a real AF_UNIX datagram socket, as systemd would bind it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from syncd.systemd import Notifier, watchdog_usec
from tests.support.notify_socket import NotifySocket, notify_socket


@pytest.fixture(params=["path", "abstract"])
def sock(request: pytest.FixtureRequest) -> Iterator[NotifySocket]:
    with notify_socket(abstract=request.param == "abstract") as bound:
        yield bound


def notifier(sock: NotifySocket, **extra: str) -> Notifier:
    return Notifier({"NOTIFY_SOCKET": sock.address, **extra})


def test_ready_status_watchdog_stopping_arrive_as_exact_datagrams(sock: NotifySocket) -> None:
    n = notifier(sock, WATCHDOG_USEC="4000000")
    assert n.enabled

    n.status("waiting for database")
    n.ready()
    n.watchdog()
    n.status("12 running, 340 due")
    n.stopping()

    received = [sock.receive().data for _ in range(5)]
    assert received == [
        b"STATUS=waiting for database",
        b"READY=1",
        b"WATCHDOG=1",
        b"STATUS=12 running, 340 due",
        b"STOPPING=1",
    ]


def test_messages_come_from_the_sending_process(sock: NotifySocket) -> None:
    # NotifyAccess=main: systemd only listens to the main pid, which it learns this way.
    notifier(sock).ready()
    assert sock.receive().pid == os.getpid()


def test_a_status_can_ride_along_with_ready_and_stopping(sock: NotifySocket) -> None:
    n = notifier(sock)
    n.ready(status="listening")
    n.stopping(status="draining 3 jobs")
    assert sock.receive().data == b"READY=1\nSTATUS=listening"
    assert sock.receive().data == b"STOPPING=1\nSTATUS=draining 3 jobs"


def test_a_newline_in_a_status_cannot_inject_an_assignment(sock: NotifySocket) -> None:
    notifier(sock).status("db error:\nREADY=1")
    assert sock.receive().fields == ["STATUS=db error: READY=1"]


def test_reloading_carries_the_monotonic_clock(sock: NotifySocket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier(sock).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    reloading, monotonic = sock.receive().fields
    assert reloading == "RELOADING=1"
    assert monotonic.startswith("MONOTONIC_USEC=")
    assert before <= int(monotonic.removeprefix("MONOTONIC_USEC=")) <= after


def test_no_watchdog_ping_when_systemd_did_not_ask_for_one(sock: NotifySocket) -> None:
    n = notifier(sock)
    n.watchdog()
    n.stopping()
    assert sock.receive().data == b"STOPPING=1"


def test_without_notify_socket_everything_is_a_silent_no_op() -> None:
    n = Notifier({})
    with capture_logs() as logged:
        n.ready()
        n.status("x")
        n.watchdog()
        n.reloading()
        n.stopping()
        assert n.send("READY=1") is False
    assert not n.enabled
    assert n.watchdog_interval() is None
    assert logged == []


def test_the_real_environment_is_read_by_default(
    sock: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = Notifier()
    n.watchdog()
    assert n.watchdog_interval() == 1.5
    assert sock.receive().data == b"WATCHDOG=1"


@pytest.mark.parametrize(
    "address", ["/nonexistent/syncd/notify", "@syncd-nobody-listens-here", "vsock:2:1234"]
)
def test_a_failed_send_is_logged_once_and_never_raised(address: str) -> None:
    n = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    with capture_logs() as logged:
        n.ready()
        n.watchdog()
        n.status("still here")
        n.stopping()
        assert n.send("READY=1") is False
    assert [e["event"] for e in logged] == ["systemd.notify_failed"]
    assert logged[0]["log_level"] == "warning"


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),  # WatchdogSec=20s: ping every 10 s
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4242"}, 10.0),  # ours
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4243"}, None),  # someone else's
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "main"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "20s"}, None),
        ({"WATCHDOG_PID": "4242"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_pid(
    env: dict[str, str], interval: float | None
) -> None:
    n = Notifier({"NOTIFY_SOCKET": "/run/systemd/notify", **env}, pid=4242)
    assert n.watchdog_interval() == interval
    assert (watchdog_usec(env, 4242) is None) == (interval is None)


def test_a_pid_mismatch_silences_the_pings(sock: NotifySocket) -> None:
    n = notifier(sock, WATCHDOG_USEC="1000000", WATCHDOG_PID=str(os.getpid() + 1))
    n.watchdog()
    n.stopping()
    assert sock.receive().data == b"STOPPING=1"


def test_a_child_process_reaches_the_helper_socket(sock: NotifySocket) -> None:
    # What the end-to-end test of `syncd run` does, with a three-line daemon.
    script = (
        "from syncd.systemd import Notifier; n = Notifier(); n.ready(); n.watchdog(); n.stopping()"
    )
    env = {**os.environ, **sock.env(watchdog_usec=2_000_000)}
    env.pop("WATCHDOG_PID", None)
    with subprocess.Popen([sys.executable, "-c", script], env=env) as proc:
        assert proc.wait(timeout=60) == 0

    sock.wait_for("STOPPING=1")
    assert sock.assignments() == ["READY=1", "WATCHDOG=1", "STOPPING=1"]
    assert sock.order("READY=1", "WATCHDOG=1", "STOPPING=1")
    assert not sock.order("STOPPING=1", "READY=1")
    assert {m.pid for m in sock.messages} == {proc.pid}
