"""Every timing the tests give syncd, in one place.

Short enough that a test of rescue or retry does not wait out production defaults,
long enough on a shared, loaded machine that a live worker is never taken for a dead
one. None of them is a speed claim: the waits (WAIT, EVENT_WAIT) are hang guards.
"""

from __future__ import annotations

# [daemon]: a worker silent this long has its jobs taken back; the fallback poll; how
# long a stopping daemon lets running jobs finish.
RESCUE_AFTER = 3.0
POLL_INTERVAL = 5.0
SHUTDOWN_GRACE = 5.0
# [database]
POOL_SIZE = 5
# [retry] delays of the fault suite's daemons: a retried job is due again at once.
FAULT_RETRY_DELAYS = [0.2]

# How long a test waits for a row or a log event before it fails as hung.
WAIT = 30.0
# How often it looks.
EVERY = 0.02


def daemon_env() -> dict[str, str]:
    """The timings every `syncd run` of the tests gets (the fault suite's fleet adds
    SHUTDOWN_GRACE and POOL_SIZE), as environment variables."""
    return {
        "SYNCD_DAEMON__RESCUE_AFTER": f"{RESCUE_AFTER:g}",
        "SYNCD_DAEMON__POLL_INTERVAL": f"{POLL_INTERVAL:g}",
    }
