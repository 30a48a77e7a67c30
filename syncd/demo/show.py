"""What the demo prints: the daemon's own log events, one readable line each.

`Show` is a structlog renderer, the last step of the log pipeline (see
`syncd.logs.setup`), so the demo shows exactly what the daemon logs in production,
with nothing added on the side: a line per job outcome, per monday pause and per
daemon step. What a handler reports on the way (the monday item it made, what
the extractor found) is kept and joined to that job's outcome line. Other info
events are left out; warnings and errors never are. A line reads::

    10:41:03  contact       Ada Lovelace        completed in 41 ms: created monday item 1000000003
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

import structlog

from syncd.terminal import printable_event

_COLOURS = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "red": "\x1b[31m",
    "cyan": "\x1b[36m",
}
_RESET = "\x1b[0m"
# Fields every event carries that a line need not repeat.
_PLUMBING = {"event", "timestamp", "level", "worker_id", "logger"}

EventDict = MutableMapping[str, Any]


def say(text: str) -> None:
    """A line of the demo's own narration, in step with the daemon's events."""
    structlog.get_logger("syncd.demo").info("demo.said", text=text)


class Show:
    def __init__(self, colour: bool) -> None:
        self.colour = colour
        # Set by the daemon's own daemon.ready event: the demo enqueues its first
        # jobs only then, so that they show the NOTIFY path, not a backlog.
        self.daemon_ready = threading.Event()
        # Entity and document ids -> the name a person knows them by.
        self.labels: dict[str, str] = {}
        # job id -> what its handler reported, until its outcome line.
        self._found: dict[str, list[str]] = {}
        self._lines: dict[str, Callable[[EventDict], str | None]] = {
            "demo.said": lambda e: self._line("demo", str(e.get("text")), "bold"),
            "daemon.started": self._started,
            "daemon.ready": lambda e: self._line("daemon", "ready: listening for jobs", "dim"),
            "daemon.stopping": self._stopping,
            "daemon.stopped": lambda e: self._line("daemon", "stopped", "dim"),
            "job.completed": self._completed,
            "job.retry_scheduled": self._retry,
            "job.failed": self._failed,
            "job.snoozed": self._snoozed,
            "job.released": lambda e: self._job(
                e, "released at shutdown (attempt not counted)", "yellow"
            ),
            "monday.rate_limited": self._rate_limited,
            "monday.resumed": lambda e: self._line("monday", "pause over: calls resume", "cyan"),
            "monday.item_created": lambda e: self._item(e, "created"),
            "monday.item_updated": lambda e: self._item(e, "updated"),
            "monday.item_archived": lambda e: self._item(e, "archived"),
            "monday.item_deleted": lambda e: self._item(e, "deleted"),
            "monday.nothing_to_delete": lambda e: self._note(e, "no monday item to delete"),
            "monday.item_found": lambda e: self._note(
                e, f"found monday item {e.get('item_id')}, made by an earlier attempt"
            ),
            "monday.pulled": lambda e: self._note(
                e, f"pulled {', '.join(e.get('fields') or []) or 'nothing'} from monday"
            ),
            "monday.webhook_enqueued": lambda e: self._line(
                "monday",
                f"webhook: {self.labels.get(str(e.get('entity_id')), 'an item')} changed "
                "on the board: to_npd job enqueued",
                "cyan",
            ),
            "document.extracted": self._extracted,
            "document.path_refused": lambda e: self._job(
                e, f"refused to read it (security): {e.get('reason')}", "red"
            ),
        }

    def __call__(self, logger: Any, method: str, event: EventDict) -> str:
        event = printable_event(logger, method, event)  # an error, a name, monday's words
        if event.get("event") == "daemon.ready":
            self.daemon_ready.set()
        render = self._lines.get(str(event.get("event")))
        line: str | None = None
        if render is not None:
            try:
                line = render(event)
            except Exception:  # a line that cannot be drawn must not fail the job that logged it
                line = self._other(event)
        elif event.get("level") in ("warning", "error", "critical"):
            line = self._other(event)
        if line is None:
            raise structlog.DropEvent
        return f"  {self._paint(_clock(event.get('timestamp')), 'dim')}  {line}"

    # -- one line each -----------------------------------------------------------

    def _started(self, event: EventDict) -> str:
        handled = "; ".join(
            f"{queue} handles {', '.join(kinds) or 'nothing'}"
            for queue, kinds in (event.get("handlers") or {}).items()
        )
        return self._line("daemon", f"started: {handled}", "dim")

    def _stopping(self, event: EventDict) -> str:
        running = event.get("running", 0)
        return self._line(
            "daemon",
            f"stopping: {running} running job(s) get {event.get('grace_s')} s to finish",
            "dim",
        )

    def _completed(self, event: EventDict) -> str:
        found = self._found.pop(str(event.get("job_id")), [])
        text = f"completed in {_ms(event.get('duration_ms'))}"
        return self._job(event, ": ".join([text, ", ".join(found)]) if found else text, "green")

    def _retry(self, event: EventDict) -> str:
        wait = _between(event.get("timestamp"), event.get("next_retry"))
        return self._job(
            event,
            f"attempt {event.get('attempt')} of {event.get('max_attempts')} failed, "
            f"retry in {wait}: {event.get('error')}",
            "yellow",
        )

    def _failed(self, event: EventDict) -> str:
        self._found.pop(str(event.get("job_id")), None)
        how = "failed for good" if event.get("permanent") else "failed, attempts used up"
        return self._job(event, f"{how}: {event.get('error')}", "red")

    def _snoozed(self, event: EventDict) -> str:
        until = _clock(event.get("next_retry"))
        return self._job(
            event, f"snoozed until {until}, attempt not counted: {event.get('error')}", "cyan"
        )

    def _rate_limited(self, event: EventDict) -> str:
        whose = ", hit by another syncd process" if event.get("shared") else ""
        return self._line(
            "monday",
            f"rate limited ({event.get('reason')}{whose}): "
            f"every monday call waits {event.get('retry_in_s')} s",
            "cyan",
        )

    def _extracted(self, event: EventDict) -> None:
        pages = event.get("page_count")
        facts = [
            str(event.get("detected_type")),
            *([f"{pages} page{'s' if pages != 1 else ''}"] if pages is not None else []),
            f"{event.get('word_count')} words",
        ]
        self._note(event, ", ".join(facts))

    def _item(self, event: EventDict, done: str) -> None:
        self._note(event, f"{done} monday item {event.get('item_id')}")

    def _note(self, event: EventDict, fact: str) -> None:
        self._found.setdefault(str(event.get("job_id")), []).append(fact)

    def _other(self, event: EventDict) -> str:
        name = str(event.get("event"))
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in _PLUMBING)
        colour = "red" if event.get("level") != "warning" else "yellow"
        if "job_id" in event:
            return self._job(event, f"{name} {fields}", colour)
        return self._line(name.partition(".")[0], f"{name} {fields}", colour)

    # -- layout ------------------------------------------------------------------

    def _line(self, who: str, text: str, colour: str) -> str:
        return f"{who:<12}  {self._paint(text, colour)}"

    def _job(self, event: EventDict, text: str, colour: str) -> str:
        if event.get("queue") == "documents":
            what, subject = "document", event.get("document_id")
        else:
            what, subject = str(event.get("entity_type")), event.get("entity_id")
        label = self.labels.get(str(subject)) or f"#{str(subject)[:8]}"
        return f"{what:<12}  {self._paint(f'{label:<28}', 'bold')}  {self._paint(text, colour)}"

    def _paint(self, text: str, colour: str) -> str:
        return f"{_COLOURS[colour]}{text}{_RESET}" if self.colour else text


def _moment(stamp: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp)).astimezone()
    except ValueError:
        return None


def _clock(stamp: object) -> str:
    moment = _moment(stamp)
    return moment.strftime("%H:%M:%S") if moment else "--:--:--"


def _between(start: object, end: object) -> str:
    a, b = _moment(start), _moment(end)
    if a is None or b is None:
        return "a while"
    return f"{max((b - a).total_seconds(), 0.0):.1f} s"


def _ms(value: object) -> str:
    return f"{value:.0f} ms" if isinstance(value, int | float) else "?"
