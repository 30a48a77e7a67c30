"""SIGHUP: re-read the configuration and apply what can change without a restart.

What a running daemon can take in place: the log level, and the concurrency
limits (the daemon's and each queue's). Running jobs are not touched;
a lower limit just starts fewer new ones until enough have finished. Everything
else (the log format, database URLs, pool size, the monday token and mappings, storage root,
retry schedule, timeouts...) is read once at start, because changing it under
running jobs would mix two configurations in one attempt; a reload that finds
such a change says which keys need `systemctl restart syncd`.

A file that no longer validates is refused whole: the daemon keeps its current
settings and logs `config.invalid`, so a typo cannot take a running service down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd import logs
from syncd.config import ConfigError, Settings
from syncd.queues import QUEUES
from syncd.slots import Slots

RELOADABLE = {"log.level", "daemon.concurrency"} | {f"queues.{name}.concurrency" for name in QUEUES}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_keys(old: Settings, new: Settings) -> list[str]:
    # Plain dumps keep secrets as SecretStr, which compare by value: a changed
    # token or URL shows up here without ever being written out.
    before, after = _flatten(old.model_dump()), _flatten(new.model_dump())
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def apply_limits(current: Settings, new: Settings, slots: Slots) -> None:
    """Take the reloadable keys of `new` into the running daemon's settings and slots."""
    current.log.level = new.log.level
    current.daemon.concurrency = slots.concurrency = new.daemon.concurrency
    for name, state in slots.states.items():
        current.queue(name).concurrency = state.limit = new.queue(name).concurrency


def reload(
    current: Settings, read: Callable[[], Settings], apply: Callable[[Settings], None]
) -> bool:
    """Re-read with `read`; hand the new settings to `apply` if they validate."""
    log = logs.get()
    try:
        new = read()
    except ConfigError as exc:
        log.error("config.invalid", error=str(exc), kept="the running configuration")
        return False
    keys = changed_keys(current, new)
    applied = [k for k in keys if k in RELOADABLE]
    needs_restart = [k for k in keys if k not in RELOADABLE]
    logs.set_level(new.log.level)
    apply(new)
    log.info("config.reloaded", source=new.source, applied=applied, needs_restart=needs_restart)
    if needs_restart:
        log.warning(
            "config.restart_needed",
            keys=needs_restart,
            error="these settings are read at start only: restart syncd to apply them",
        )
    return True
