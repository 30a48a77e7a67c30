"""The operator console, `syncd web` (SPEC §10), driven in Debian's Chromium.

The console runs as its own process (`python -m syncd web`), as an operator starts it.
The browser tests skip, saying how to install the browser, when chromium or its
driver is missing. Screenshots of every page land in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd.config import EX_CONFIG

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HISTORY = [
    {"attempt": 1, "at": "2026-12-06T10:00:00+00:00", "outcome": "retry", "error": "HTTP 502",
     "duration_ms": 40, "worker": "11111111-2222-3333-4444-555555555555"},
    {"attempt": 2, "at": "2026-12-06T10:01:00+00:00", "outcome": "failed",
     "error": "ColumnValueException: email is not valid", "duration_ms": 35,
     "worker": "66666666-2222-3333-4444-555555555555"},
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def console(database_url: str, **web: str) -> Iterator[str]:
    """`syncd web` on a free port until the block ends; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "SYNCD_DATABASE__URL": database_url,
        "SYNCD_WEB__LISTEN": f"127.0.0.1:{port}",
        "SYNCD_WEB__POLL_INTERVAL": "0.3",
        **{f"SYNCD_WEB__{k.upper()}": v for k, v in web.items()},
    }
    env.pop("SYNCD_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    raise AssertionError(f"syncd web did not start: {out}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _request(url: str, data: dict[str, str] | None = None, **headers: str) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _run(database_url: str, work: Callable[[asyncpg.Connection], Any]) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


def _failed_job(database_url: str, entity_type: str = "contact", **payload: Any) -> uuid.UUID:
    async def work(conn: asyncpg.Connection) -> uuid.UUID:
        job: uuid.UUID = await conn.fetchval(
            "INSERT INTO sync_queue (entity_type, entity_id, status, attempts, max_attempts,"
            " error_message, last_attempt, completed_at, attempts_log, payload)"
            " VALUES ($3, $1, 'failed', 2, 2, 'ColumnValueException: email is not valid',"
            " now(), now(), $2::jsonb, $4::jsonb) RETURNING id",
            uuid.uuid4(),
            json.dumps(HISTORY),
            entity_type,
            json.dumps(payload),
        )
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id, status, completed_at)"
            " SELECT 'contact', gen_random_uuid(), 'completed', now() - i * interval '50 s'"
            " FROM generate_series(1, 40) i"
        )
        return job

    return _run(database_url, work)


# -- the browser -----------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(
            "the console's browser tests need Debian's chromium: "
            "apt-get install -y chromium chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting in the browser")
        time.sleep(0.1)


def _shot(driver: Any, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / f"{name}.png"))


def test_an_operator_finds_a_failed_job_retries_it_and_watches_it_complete(
    database_url: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    job = _failed_job(database_url)
    with console(database_url) as base:
        browser.get(base + "/")
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "section.queue"))
        _wait(lambda: browser.find_element(By.ID, "live").get_attribute("class") == "on")
        _shot(browser, tmp_path, "overview")
        sync = browser.find_element(By.CSS_SELECTOR, 'section[data-queue="sync"]')
        failed = sync.find_element(By.CSS_SELECTOR, "a.count.failed")
        assert failed.find_element(By.TAG_NAME, "b").text == "1"

        # Every number leads to the jobs behind it: here, the failed ones.
        failed.click()
        _wait(lambda: "status=failed" in browser.current_url)
        rows = browser.find_elements(By.CSS_SELECTOR, "table.jobs tbody tr")
        assert [r.get_attribute("data-status") for r in rows] == ["failed"]
        _shot(browser, tmp_path, "jobs-failed")
        # The page's script keeps "ago" current, in the server's one duration format.
        created = _wait(lambda: _live_text(browser, "table.jobs tbody tr time.rel"))
        assert re.fullmatch(r"\d+\.\d s ago", created), created

        rows[0].find_element(By.TAG_NAME, "a").click()
        _wait(lambda: browser.find_elements(By.ID, "job-id"))
        assert browser.find_element(By.ID, "job-id").text == str(job)
        history = browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in history] == ["failed", "retry"]
        assert "email is not valid" in history[0].text
        _shot(browser, tmp_path, "job-failed")

        browser.find_element(By.XPATH, "//button[text()='Retry now']").click()
        _wait(lambda: "retried: due now" in browser.page_source)
        # The live updates may be redrawing the facts just then: wait for the badge.
        _wait(lambda: _status_badge(browser) == "pending")

        # From here on the page must change by itself: mark it, then move the job as
        # a daemon would (its outcome writer sends no NOTIFY: the console's poll sees it).
        browser.execute_script("window.stillTheSamePage = true;")
        _run(
            database_url,
            lambda c: c.execute(
                "UPDATE sync_queue SET status = 'processing', attempts = attempts + 1,"
                " started_at = now() WHERE id = $1",
                job,
            ),
        )
        _wait(lambda: _status_badge(browser) == "processing")
        _run(
            database_url,
            lambda c: c.execute(
                "UPDATE sync_queue SET status = 'completed', completed_at = now(),"
                " error_message = NULL WHERE id = $1",
                job,
            ),
        )
        _wait(lambda: _status_badge(browser) == "completed")
        assert browser.execute_script("return window.stillTheSamePage === true;")
        _shot(browser, tmp_path, "job-completed-live")

        browser.get(base + "/audit")
        audit = browser.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
        assert len(audit) == 1 and "retry" in audit[0].text and str(job)[:8] in audit[0].text
        _shot(browser, tmp_path, "audit")
        for page in ("workers", "monday"):
            browser.get(f"{base}/{page}")
            _shot(browser, tmp_path, page)


def test_a_retried_job_completes_live_under_a_real_daemon(
    database_url: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from tests.plugin import SETUP_SQL
    from tests.support.daemons import Daemon

    # The test plugin's handler takes two seconds: long enough for the page to show the
    # job before it ends, so its end can only arrive through the live feed.
    job = _failed_job(database_url, "probe", sleep=2)
    _run(database_url, lambda c: c.execute(SETUP_SQL))
    daemon = Daemon(database_url)
    try:
        daemon.wait_event("daemon.ready")
        with console(database_url) as base:
            browser.get(f"{base}/jobs/sync/{job}")
            _wait(lambda: browser.find_element(By.ID, "live").get_attribute("class") == "on")
            browser.find_element(By.XPATH, "//button[text()='Retry now']").click()
            _wait(lambda: "retried: due now" in browser.page_source)
            _wait(lambda: _status_badge(browser) in ("pending", "processing"))
            browser.execute_script("window.stillTheSamePage = true;")
            _wait(lambda: _status_badge(browser) == "completed", timeout=30)
            assert browser.execute_script("return window.stillTheSamePage === true;")
            _shot(browser, tmp_path, "job-completed-by-daemon")
    finally:
        daemon.stop()


def test_a_queue_paused_in_the_console_starts_no_job_until_resumed(
    database_url: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from tests.plugin import SETUP_SQL
    from tests.support.daemons import Daemon

    _run(database_url, lambda c: c.execute(SETUP_SQL))
    daemon = Daemon(database_url, SYNCD_DAEMON__POLL_INTERVAL="60")
    try:
        daemon.wait_event("daemon.ready")
        with console(database_url) as base:
            browser.get(base + "/")
            sync = _wait(
                lambda: browser.find_element(By.CSS_SELECTOR, 'section[data-queue="sync"]')
            )
            sync.find_element(By.NAME, "reason").send_keys("monday is down")
            sync.find_element(By.XPATH, ".//button[text()='Pause']").click()
            _wait(lambda: "paused the sync queue" in browser.page_source)
            daemon.wait_event("queue.paused", timeout=10)
            _run(
                database_url,
                lambda c: c.execute(
                    "INSERT INTO sync_queue (entity_type, entity_id)"
                    " SELECT 'probe', gen_random_uuid() FROM generate_series(1, 3)"
                ),
            )
            time.sleep(1.5)
            started = _run(database_url, lambda c: c.fetchval("SELECT count(*) FROM probe_runs"))
            assert started == 0
            sync_card = 'section[data-queue="sync"]'
            _wait(lambda: "PAUSED" in _live_text(browser, sync_card))
            assert "monday is down" in _live_text(browser, sync_card)
            _shot(browser, tmp_path, "paused")

            _wait(lambda: _live_click(browser, sync_card, ".//button[text()='Resume']"))
            _wait(lambda: "resumed the sync queue" in browser.page_source)
            _wait(
                lambda: _run(
                    database_url,
                    lambda c: c.fetchval(
                        "SELECT count(*) = 3 FROM sync_queue WHERE status = 'completed'"
                    ),
                )
            )
            _wait(lambda: "PAUSED" not in _live_text(browser, "#main"))
            browser.get(base + "/audit")
            _wait(lambda: "resume" in _live_text(browser, "table.audit"))
            assert "pause" in _live_text(browser, "table.audit")
    finally:
        daemon.stop()
    actions = _run(
        database_url, lambda c: c.fetch("SELECT action, actor FROM syncd_audit ORDER BY at")
    )
    assert [(a["action"], a["actor"]) for a in actions] == [("pause", "local"), ("resume", "local")]


def _live_text(browser: Any, css: str) -> str:
    """The text of `css`, or "" while the live updates are redrawing it."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        text: str = browser.find_element(By.CSS_SELECTOR, css).text
        return text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _live_click(browser: Any, css: str, xpath: str) -> bool:
    """Click `xpath` inside `css`; False while the live updates are redrawing it."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        browser.find_element(By.CSS_SELECTOR, css).find_element(By.XPATH, xpath).click()
        return True
    except (NoSuchElementException, StaleElementReferenceException):
        return False


def _status_badge(browser: Any) -> str:
    return _live_text(browser, "dl.facts dd .badge")


def test_a_read_only_console_offers_no_action(
    database_url: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    job = _failed_job(database_url)
    with console(database_url, read_only="true") as base:
        browser.get(f"{base}/jobs/sync/{job}")
        _wait(lambda: browser.find_elements(By.ID, "job-id"))
        assert browser.find_elements(By.TAG_NAME, "button") == []
        assert "read-only" in browser.find_element(By.TAG_NAME, "header").text
        browser.get(f"{base}/jobs?queue=sync&status=failed")
        assert browser.find_elements(By.CSS_SELECTOR, "form.action") == []
        _shot(browser, tmp_path, "read-only")
        status, text = _request(base + "/actions/retry", {"queue": "sync", "job_id": str(job)})
        assert (status, text) == (403, "this console is read-only")
    assert _run(database_url, lambda c: c.fetchval("SELECT count(*) FROM syncd_audit")) == 0


# -- without a browser -------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_one_with_it_works(database_url: str) -> None:
    job = _failed_job(database_url)
    with console(database_url) as base:
        status, text = _request(base + "/actions/retry", {"queue": "sync", "job_id": str(job)})
        assert status == 403 and "CSRF" in text
        wrong = {"queue": "sync", "job_id": str(job), "csrf": "0" * 40}
        assert _request(base + "/actions/retry", wrong)[0] == 403
        status = _run(
            database_url, lambda c: c.fetchval("SELECT status FROM sync_queue WHERE id = $1", job)
        )
        assert status == "failed"

        # With the page's token, the bulk retry of the filtered list goes through.
        page = _request(base + "/jobs?queue=sync&status=failed&q=email")[1]
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None
        form = {"queue": "sync", "q": "email", "csrf": csrf.group(1)}
        status_code, text = _request(base + "/actions/bulk-retry", form)
        assert status_code == 200 and "1 of 1 failed job(s) due now" in text
    audit = _run(database_url, lambda c: c.fetchrow("SELECT * FROM syncd_audit"))
    assert (audit["action"], audit["actor"], audit["job_ids"]) == ("bulk retry", "local", [job])


def test_a_kind_is_paused_from_the_console_and_a_read_only_one_cannot(database_url: str) -> None:
    with console(database_url, read_only="true") as base:
        page = _request(base + "/")[1]
        assert 'action="/actions/pause"' not in page
        status, text = _request(base + "/actions/pause", {"queue": "sync"})
        assert (status, text) == (403, "this console is read-only")
    with console(database_url) as base:
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', _request(base + "/")[1])
        assert csrf is not None
        form = {"queue": "documents", "kind": "extract", "csrf": csrf.group(1)}
        status, page = _request(base + "/actions/pause", form)
        assert status == 200 and "paused operation &#x27;extract&#x27; of the documents" in page
        assert "PAUSED</b> for extract" in page
        status, page = _request(base + "/actions/resume", {**form, "kind": "ocr"})
        assert "operation &#x27;ocr&#x27; of the documents queue is not paused" in page
    rows = _run(database_url, lambda c: c.fetch("SELECT queue, kind FROM syncd_pauses"))
    assert [tuple(r) for r in rows] == [("documents", "extract")]


def test_a_monday_pause_ends_from_the_console(database_url: str) -> None:
    _run(
        database_url,
        lambda c: c.execute(
            "INSERT INTO monday_pauses (token_id, paused_until, reason)"
            " VALUES ('abcdef0123456789', now() + interval '20 minutes', 'DAILY_LIMIT_EXCEEDED')"
        ),
    )
    with console(database_url) as base:
        page = _request(base + "/monday")[1]
        assert "DAILY_LIMIT_EXCEEDED" in page and "End the monday pause now" in page
        overview = _request(base + "/")[1]
        assert "monday (token abcdef01…) paused for" in overview
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None
        status, text = _request(base + "/actions/monday-resume", {"csrf": csrf.group(1)})
        assert status == 200 and "ended 1 monday pause(s)" in text
    left = _run(database_url, lambda c: c.fetchval("SELECT count(*) FROM monday_pauses"))
    audit = _run(database_url, lambda c: c.fetchval("SELECT action FROM syncd_audit"))
    assert (left, audit) == (0, "monday resume")


def _budget(database_url: str, sql: str) -> None:
    """Make the complexity budget's row as a daemon's report would (budgets.py)."""
    _run(database_url, lambda c: c.execute(sql))


REPORTED = (
    "INSERT INTO monday_budgets"
    " (token_id, budget, remaining, budget_limit, resets_at, updated_at, reported_by)"
    " VALUES ('abcdef0123456789', 'complexity', 4820000, 5000000, now() + interval '42 s',"
    "         now() - interval '3 s', 'web1:4242<script>x</script>'),"
    "        ('abcdef0123456789', 'minute', 4990, 5000, now() + interval '42 s',"
    "         now() - interval '3 s', 'web1:4242')"
)


def test_the_monday_budget_shows_as_reported_or_says_there_is_no_fresh_report(
    database_url: str,
) -> None:
    with console(database_url) as base:
        overview, monday = _request(base + "/")[1], _request(base + "/monday")[1]
        assert "budget: no daemon has reported one yet" in overview
        assert "no daemon has reported a budget yet" in monday

        _budget(database_url, REPORTED)
        overview, monday = _request(base + "/")[1], _request(base + "/monday")[1]
        for page in (overview, monday):
            assert "budget: 4,820,000 of 5,000,000 complexity points left, resets in 4" in page
            # Three seconds and however long the test took to get here.
            assert re.search(
                r"reported 3\.\d s ago by web1:4242&lt;script&gt;x&lt;/script&gt;", page
            )
            assert "<script>x" not in page
        assert "4,990 of 5,000 requests left" in monday and "4,990" not in overview

        # The daemons went quiet 14 minutes ago: the window they saw has reset since.
        _budget(
            database_url,
            "UPDATE monday_budgets SET updated_at = now() - interval '14 minutes',"
            " resets_at = now() - interval '13 minutes'",
        )
        overview = _request(base + "/")[1]
        assert '<p class="budget old"' in overview
        assert (
            "budget: refilled to 5,000,000 complexity points 13 min ago (its window reset),"
            " last reported 14 min ago" in overview
        )


def test_the_monday_page_shows_the_budget_in_the_browser(
    database_url: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    _budget(database_url, REPORTED)
    _budget(
        database_url,
        "INSERT INTO monday_pauses (token_id, paused_until, reason)"
        " VALUES ('abcdef0123456789', now() - interval '10 minutes',"
        "         'COMPLEXITY_BUDGET_EXHAUSTED')",
    )
    with console(database_url) as base:
        browser.get(base + "/monday")
        card = _wait(lambda: browser.find_element(By.CSS_SELECTOR, "p.budget"))
        assert card.text.startswith("budget: 4,820,000 of 5,000,000 complexity points left")
        listed = browser.find_elements(By.CSS_SELECTOR, "ul.budgets li")
        assert [li.get_attribute("data-budget") for li in listed] == ["complexity", "minute"]
        assert "COMPLEXITY_BUDGET_EXHAUSTED" in browser.find_element(By.ID, "main").text
        _shot(browser, tmp_path, "monday-budget")


def test_a_non_loopback_listen_without_auth_is_refused(database_url: str) -> None:
    env = {**os.environ, "SYNCD_DATABASE__URL": database_url, "SYNCD_WEB__LISTEN": "0.0.0.0:0"}
    env.pop("SYNCD_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "web"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == EX_CONFIG
    assert proc.stderr.startswith("syncd: web.listen = '0.0.0.0:0' is not a loopback address")


def test_without_auth_only_a_local_host_name_is_served(database_url: str) -> None:
    with console(database_url) as base:
        assert _request(base + "/", Host="localhost")[0] == 200
        status, text = _request(base + "/", Host="evil.example:8765")
        assert (status, text) == (403, "unexpected Host header: open the console by its address")


def test_token_and_password_auth(database_url: str, tmp_path: Path) -> None:
    token = tmp_path / "web-token"
    token.write_text("s3cret-console-token-1234\n")
    with console(database_url, auth="token", token_file=str(token)) as base:
        assert _request(base + "/")[0] == 401
        assert _request(base + "/", Authorization="Bearer nope")[0] == 401
        assert _request(base + "/", Authorization="Bearer s3cret-console-token-1234")[0] == 200
        assert _request(base + "/static/console.css")[0] == 200
    users = tmp_path / "web-users"
    users.write_text("# operators\nada:correct horse\n")
    with console(database_url, auth="password", password_file=str(users)) as base:
        good = "Basic " + base64.b64encode(b"ada:correct horse").decode()
        bad = "Basic " + base64.b64encode(b"ada:wrong").decode()
        assert _request(base + "/")[0] == 401
        assert _request(base + "/", Authorization=bad)[0] == 401
        status, text = _request(base + "/", Authorization=good)
        assert status == 200 and "ada" in text


def test_text_from_the_database_is_escaped(database_url: str) -> None:
    async def work(conn: asyncpg.Connection) -> uuid.UUID:
        job: uuid.UUID = await conn.fetchval(
            "INSERT INTO sync_queue (entity_type, entity_id, status, error_message, completed_at)"
            " VALUES ('contact', gen_random_uuid(), 'failed', '<script>alert(1)</script>', now())"
            " RETURNING id"
        )
        return job

    job = _run(database_url, work)
    with console(database_url) as base:
        for path in ("/", "/jobs?queue=sync&status=failed", f"/jobs/sync/{job}"):
            status, text = _request(base + path)
            assert status == 200
            assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text
