"""The console's HTML, rendered on the server. Every value from the database or the user
goes through `e` (HTML escaping); every count links to the jobs behind it; every time
shows both how long ago and when (the page's script keeps "ago" current)."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from syncd import inspect, pauses, status
from syncd.operate import ago
from syncd.queues import QUEUES
from syncd.status import duration

STATUS_ORDER = ("pending", "processing", "failed", "completed", "cancelled")


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def jobs_url(queue: str, **filters: Any) -> str:
    query = {"queue": queue, **{k: v for k, v in filters.items() if v not in (None, "")}}
    return "/jobs?" + urlencode(query)


def job_url(queue: str, job_id: Any) -> str:
    return f"/jobs/{e(queue)}/{e(job_id)}"


def when(value: datetime | str | None) -> str:
    if value is None:
        return '<span class="muted">-</span>'
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return e(value)
    iso = value.isoformat()
    absolute = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f'<time class="rel" datetime="{e(iso)}" title="{e(absolute)}">'
        f"{e(ago(datetime.now(UTC), value))}</time>"
        f' <span class="abs">{e(absolute)}</span>'
    )


def badge(status: str) -> str:
    return f'<span class="badge {e(status)}">{e(status)}</span>'


class Page:
    """What every page needs: who is looking, the CSRF token, read-only or not."""

    def __init__(self, who: str, csrf: str, read_only: bool) -> None:
        self.who = who
        self.csrf = csrf
        self.read_only = read_only

    def form(self, action: str, fields: dict[str, Any], label: str, cls: str = "") -> str:
        if self.read_only:
            return ""
        hidden = "".join(
            f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
            for k, v in fields.items()
            if v not in (None, "")
        )
        return (
            f'<form method="post" action="{e(action)}" class="action">'
            f'<input type="hidden" name="csrf" value="{e(self.csrf)}">{hidden}'
            f'<button type="submit" class="{e(cls)}">{e(label)}</button></form>'
        )

    def layout(self, title: str, body: str, active: str = "") -> str:
        nav = "".join(
            f'<a href="{href}"{" class=on" if name == active else ""}>{label}</a>'
            for name, href, label in (
                ("overview", "/", "Overview"),
                ("jobs", "/jobs?queue=sync", "Jobs"),
                ("workers", "/workers", "Workers"),
                ("monday", "/monday", "monday"),
                ("audit", "/audit", "Audit"),
            )
        )
        mode = '<span class="ro">read-only</span>' if self.read_only else ""
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · syncd</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head><body>
<header><strong>syncd</strong><nav>{nav}</nav>
<span class="who">{mode} {e(self.who)} <span id="live" title="live updates">●</span></span></header>
<main id="main">{body}</main>
</body></html>"""


# -- overview -----------------------------------------------------------------------


def sparkline(points: list[dict[str, Any]], width: int = 240, height: int = 40) -> str:
    values = [p["completed"] + p["failed"] for p in points]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    line = " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
    fails = "".join(
        f'<circle cx="{i * step:.1f}" cy="{height - 2 - (p["completed"] + p["failed"]) / top * (height - 4):.1f}" r="2" class="fail"/>'  # noqa: E501
        for i, p in enumerate(points)
        if p["failed"]
    )
    total = sum(values)
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{total} jobs ended in the last hour">'
        f'<polyline points="{line}"/>{fails}</svg>'
    )


def overview(page: Page, report: dict[str, Any], flash: str = "") -> str:
    note = f'<p class="flash">{e(flash)}</p>' if flash else ""
    cards = []
    for name in QUEUES:
        q = report[name]
        counts = "".join(
            f'<a class="count {s}" href="{e(jobs_url(name, status=s))}">'
            f"<b>{'~' if s == 'completed' and q.get('completed_estimated') else ''}"
            f"{q[s]:,}</b><span>{s}</span></a>"
            for s in STATUS_ORDER
        )
        age = q["oldest_due_age_s"]
        due = f'<a href="{e(jobs_url(name, status="pending"))}"><b>{q["due"]:,}</b> due now</a>' + (
            f", oldest waiting <b>{e(duration(age))}</b>" if age is not None else ""
        )
        next_retry = f"next retry {when(q['next_retry'])}" if q["next_retry"] else ""
        hour = (
            f'<a href="{e(jobs_url(name, status="completed", since="1h"))}">'
            f"{q['completed_last_hour']:,} completed</a> · "
            f'<a href="{e(jobs_url(name, status="failed", since="1h"))}">'
            f"{q['failed_last_hour']:,} failed</a> in the last hour"
        )
        failures = "".join(
            f'<li><a href="{job_url(name, f["job_id"])}">{e(f["job_id"][:8])}</a> '
            f"{badge(f['status'])} {e(f['subject'])}: <span class=err>{e(f['error'])}</span></li>"
            for f in q["recent_failures"]
        )
        cards.append(
            f'<section class="card queue" data-queue="{name}"><h2>{name} queue</h2>'
            + queue_pauses(page, name, report.get("pauses", []))
            + f'<div class="counts">{counts}</div><p>{due} {next_retry}</p>'
            f'<a href="{e(jobs_url(name, status="completed", since="1h"))}">'
            f"{sparkline(q['throughput'])}</a><p class=muted>{hour}</p>"
            + (f"<h3>Recent failures</h3><ul class=fails>{failures}</ul>" if failures else "")
            + "</section>"
        )
    return (
        note
        + '<div class="grid">'
        + "".join(cards)
        + workers_card(report["workers"], report["rescue_after_s"])
        + monday_card(report["monday_pauses"], report["monday_budgets"])
        + "</div>"
    )


def queue_pauses(page: Page, queue: str, in_force: list[dict[str, Any]]) -> str:
    """A queue card's pauses, each with its Resume button, and a form to pause it."""
    lines = []
    for p in in_force:
        if p["queue"] != queue:
            continue
        whole = p["kind"] == pauses.WHOLE
        what = "<b>PAUSED</b>" if whole else f"<b>PAUSED</b> for {e(p['kind'])}"
        reason = f": {e(p['reason'])}" if p["reason"] else ""
        resume = page.form(
            "/actions/resume",
            {"queue": queue, "kind": None if whole else p["kind"]},
            "Resume",
            "resume",
        )
        lines.append(
            f'<div class="paused warn" data-kind="{e(p["kind"])}">{what} since '
            f"{when(p['paused_at'])} by {e(p['paused_by'])}{reason} {resume}</div>"
        )
    return "".join(lines) + _pause_form(page, queue)


def _pause_form(page: Page, queue: str) -> str:
    if page.read_only:
        return ""
    label = QUEUES[queue].kind_label
    return (
        f'<form method="post" action="/actions/pause" class="action pause">'
        f'<input type="hidden" name="csrf" value="{e(page.csrf)}">'
        f'<input type="hidden" name="queue" value="{e(queue)}">'
        f'<input name="kind" placeholder="{e(label)} (or all)" size="18">'
        f'<input name="reason" placeholder="reason" size="16">'
        f'<button type="submit" class="pause">Pause</button></form>'
    )


def workers_card(workers: list[dict[str, Any]], rescue_after: float) -> str:
    rows = "".join(
        f"<tr class={'stale' if w['stale'] else ''}><td>{e(w['worker_id'][:8])}</td>"
        f"<td>{e(w['host'])}:{e(w['pid'])}</td><td>up {e(duration(w['up_s']))}</td>"
        f"<td>{w['holding']} running</td><td>heard from {e(duration(w['heard_from_s']))} ago"
        + (" — silent past rescue_after: its jobs will be taken back" if w["stale"] else "")
        + "</td></tr>"
        for w in workers
    )
    body = f"<table>{rows}</table>" if rows else "<p class=muted>no daemon registered</p>"
    return f'<section class="card"><h2><a href="/workers">Workers</a></h2>{body}</section>'


def monday_card(pauses: list[dict[str, Any]], budgets: list[dict[str, Any]]) -> str:
    """The token's pause in force and its complexity budget (the daemons' reports)."""
    now = [p for p in pauses if p["remaining_s"] > 0]
    if now:
        body = "".join(
            f"<p class=warn>monday ({_paused(p['token_id'])}) paused for "
            f"<b>{e(duration(p['remaining_s']))}</b> more "
            f"(until {when(p['paused_until'])}): {e(p['reason'])}</p>"
            for p in now
        )
    else:
        body = "<p class=ok>monday: no pause in force</p>"
    complexity = [b for b in budgets if b["budget"] == "complexity"]
    several = len({b["token"] for b in complexity}) > 1
    body += "".join(
        f'<p class="budget{" old" if b["old"] else ""}" data-token="{e(b["token"])}">'
        + (f"token {e(b['token'][:8])}…: " if several else "")
        + f"budget: {e(status.budget_words(b))}</p>"
        for b in complexity
    ) or (
        '<p class="budget muted">budget: no daemon has reported one yet (a daemon reports'
        " monday's budgets once it has talked to monday)</p>"
    )
    return f'<section class="card"><h2><a href="/monday">monday</a></h2>{body}</section>'


# -- jobs -----------------------------------------------------------------------------


def filters_form(queue: str, args: dict[str, str]) -> str:
    def select(name: str, options: list[str], current: str | None) -> str:
        opts = "".join(
            f'<option value="{e(o)}"{" selected" if o == current else ""}>{e(o or "any")}</option>'
            for o in options
        )
        return f'<label>{name} <select name="{name}">{opts}</select></label>'

    return (
        '<form class="filters" method="get" action="/jobs">'
        + select("queue", list(QUEUES), queue)
        + select("status", ["", *inspect.STATUSES], args.get("status"))
        + f'<label>kind <input name="kind" value="{e(args.get("kind"))}" size="10"'
        ' placeholder="contact / extract"></label>'
        + f'<label>search <input name="q" value="{e(args.get("q"))}" size="30"'
        ' placeholder="entity or document id, or error text"></label>'
        + f'<label>since <input name="since" value="{e(args.get("since"))}" size="5"'
        ' placeholder="1h"></label>' + '<button type="submit">Filter</button></form>'
    )


def jobs_list(
    page: Page, queue: str, args: dict[str, str], listing: inspect.Page, flash: str = ""
) -> str:
    rows = "".join(
        f'<tr class="job" data-status="{e(j["status"])}">'
        f'<td><a href="{job_url(queue, j["id"])}">{e(str(j["id"])[:8])}</a></td>'
        f"<td>{badge(j['status'])}</td><td>{j['attempts']}/{j['max_attempts']}</td>"
        f"<td>{e(inspect.subject(queue, j))}</td><td>{when(j['created_at'])}</td>"
        f"<td class=err>{e(j['error_message'])}</td></tr>"
        for j in listing.jobs
    )
    table = (
        "<table class=jobs><thead><tr><th>job</th><th>status</th><th>attempt</th>"
        f"<th>subject</th><th>created</th><th>error</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p class=muted>no jobs match</p>"
    )
    more = ""
    if listing.next_cursor:
        more = f'<p><a href="{e(jobs_url(queue, **{**args, "before": listing.next_cursor}))}">older →</a></p>'  # noqa: E501
    bulk = ""
    if args.get("status") == "failed" and listing.jobs:
        fields = {"queue": queue, **{k: v for k, v in args.items() if k != "before"}}
        bulk = page.form("/actions/bulk-retry", fields, "Retry every failed job matching", "bulk")
    note = f'<p class="flash">{e(flash)}</p>' if flash else ""
    return f"<h1>{e(queue)} jobs</h1>{filters_form(queue, args)}{note}{bulk}{table}{more}"


def job_detail(page: Page, detail: inspect.JobPage, flash: str = "") -> str:
    j = detail.job
    q = detail.queue
    facts = [
        ("status", badge(j["status"])),
        ("subject", e(inspect.subject(q, j))),
        ("attempts", f"{j['attempts']} of {j['max_attempts']}"),
        ("priority", e(j["priority"])),
    ]
    facts += [
        (n, when(j[n]))
        for n in ("created_at", "started_at", "last_attempt", "next_retry", "completed_at")
    ]
    if j.get("error_message"):
        facts.append(("error", f"<span class=err>{e(j['error_message'])}</span>"))
    if QUEUES[q].monday_items:
        items = ", ".join(
            f"item <b>{i['item_id']}</b> on board <b>{i['board_id']}</b> (synced {when(i['synced_at'])})"  # noqa: E501
            for i in detail.monday_items
        )
        facts.append(("monday", items or '<span class="muted">no item yet</span>'))
    dl = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    actions = ""
    if j["status"] in ("failed", "cancelled", "pending"):
        actions += page.form("/actions/retry", {"queue": q, "job_id": j["id"]}, "Retry now")
    if j["status"] in ("pending", "failed"):
        actions += page.form("/actions/cancel", {"queue": q, "job_id": j["id"]}, "Cancel", "danger")
    history = "".join(
        f"<tr><td>#{e(a.get('attempt'))}</td><td>{when(a.get('at'))}</td>"
        f"<td>{badge(str(a.get('outcome', '?')))}</td><td>{e(a.get('duration_ms'))} ms</td>"
        f"<td>{e(str(a.get('worker') or '')[:8])}</td><td class=err>{e(a.get('error'))}</td></tr>"
        for a in reversed(detail.attempts)
    )
    history_html = (
        "<table class=history><thead><tr><th>attempt</th><th>at</th><th>outcome</th>"
        f"<th>took</th><th>worker</th><th>error</th></tr></thead><tbody>{history}</tbody></table>"
        if history
        else "<p class=muted>no attempt recorded yet</p>"
    )
    others = "".join(
        f'<li><a href="{job_url(q, o["id"])}">{e(str(o["id"])[:8])}</a> {badge(o["status"])} '
        f"{e(o['operation'])} {when(o['created_at'])}</li>"
        for o in detail.others
    )
    who = QUEUES[q].about
    note = f'<p class="flash">{e(flash)}</p>' if flash else ""
    return (
        f'<h1>{e(q)} job <code id="job-id">{e(j["id"])}</code></h1>{note}'
        f'<div class="actions">{actions}</div><dl class="facts">{dl}</dl>'
        f"<h2>Attempt history</h2>{history_html}"
        f"<h2>The {who}'s other jobs</h2>"
        + (f"<ul>{others}</ul>" if others else "<p class=muted>none</p>")
    )


def workers_page(workers: list[dict[str, Any]], rescue_after: float) -> str:
    return "<h1>Workers</h1>" + workers_card(workers, rescue_after)


def _paused(token_id: str) -> str:
    # A board lock's row is keyed "<token>:board:<id>" (migration 0009 and after).
    token, _, board = token_id.partition(":board:")
    return f"board {e(board)}" if board else f"token {e(token[:8])}…"


def monday_page(
    page: Page, pauses: list[dict[str, Any]], budgets: list[dict[str, Any]], flash: str = ""
) -> str:
    rows = "".join(
        f"<tr><td>{_paused(p['token_id'])}</td><td>{when(p['paused_until'])}</td>"
        f"<td>{e(p['reason'])}</td><td>{when(p['updated_at'])}</td></tr>"
        for p in pauses
    )
    table = (
        "<table><thead><tr><th>what</th><th>paused until</th><th>reason</th>"
        f"<th>recorded</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p class=muted>no pause in the last hour</p>"
    )
    resume = ""
    if any(p["remaining_s"] > 0 for p in pauses):
        resume = page.form("/actions/monday-resume", {}, "End the monday pause now", "bulk")
    note = f'<p class="flash">{e(flash)}</p>' if flash else ""
    # Each daemon's pacer knows the budgets; it reports them every few seconds
    # (handlers/monday/budgets.py), and this shows the newest report of each.
    several = len({b["token"] for b in budgets}) > 1
    listed = "".join(
        f'<li class="{"old" if b["old"] else ""}" data-budget="{e(b["budget"])}">'
        + (f"token {e(b['token'][:8])}… " if several else "")
        + f"<b>{e(b['budget'])}</b>: {e(status.budget_words(b))}</li>"
        for b in budgets
    )
    every = (
        f"<ul class=budgets>{listed}</ul>"
        if listed
        else "<p class=muted>no daemon has reported a budget yet</p>"
    )
    return (
        f"<h1>monday</h1>{note}{monday_card(pauses, budgets)}{resume}"
        f"<h2>Budgets</h2>{every}<h2>Pauses in the last hour</h2>{table}"
    )


def audit_page(entries: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{when(a['at'])}</td><td>{e(a['actor'])}</td><td>{e(a['action'])}</td>"
        f"<td>{e(a['queue'])}</td><td>{_job_links(a['queue'], a['job_ids'])}</td></tr>"
        for a in entries
    )
    table = (
        "<table class=audit><thead><tr><th>when</th><th>who</th><th>what</th><th>queue</th>"
        f"<th>jobs</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p class=muted>no action yet</p>"
    )
    return f"<h1>Audit</h1>{table}"


def _job_links(queue: str | None, ids: list[uuid.UUID]) -> str:
    if queue is None:
        return ""
    shown = ", ".join(f'<a href="{job_url(queue, i)}">{e(str(i)[:8])}</a>' for i in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def login_page(error: str = "") -> str:
    note = f"<p class=flash>{e(error)}</p>" if error else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>syncd console</title><link rel="stylesheet" href="/static/console.css"></head>
<body><main class="login"><h1>syncd console</h1>{note}
<form method="post" action="/login"><label>token <input type="password" name="token"
autofocus></label> <button type="submit">Sign in</button></form></main></body></html>"""
