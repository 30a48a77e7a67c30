"""A deployment adds its own document operation through an entry point, without touching
syncd: examples/ocr_handler.py (the README's example) installed as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from syncd import handlers, logs
from syncd.config import Settings
from syncd.handlers import DOCUMENTS, Context, Job
from tests.support import add_document, make_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The handler, and its [handlers.ocr] settings model (README: "Searching extracted documents").
ENTRY_POINTS = (
    "[syncd.handlers]\nocr = ocr_handler:install\n[syncd.settings]\nocr = ocr_handler:OcrSettings\n"
)


@pytest.fixture
def ocr_plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `pip install` of a package declaring the entry point leaves behind."""
    info = tmp_path / "site" / "acme_ocr-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ocr\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.fixture
async def ocr_service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[bytes]]:
    """A stand-in OCR service that reads every upload as the same scanned words."""
    received: list[bytes] = []

    async def ocr(request: web.Request) -> web.Response:
        assert request.query["language"] == "deu+eng"
        received.append(await request.read())
        return web.json_response({"text": "Invoice 4711 total due"})

    app = web.Application()
    app.router.add_post("/ocr", ocr)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("SYNCD_HANDLERS__OCR__URL", f"http://127.0.0.1:{port}/ocr")
    try:
        yield received
    finally:
        await runner.cleanup()


@pytest.mark.usefixtures("ocr_plugin_installed")
async def test_an_ocr_operation_plugs_in_through_an_entry_point_and_its_text_is_searchable(
    database_url: str, pool: asyncpg.Pool, tmp_path: Path, ocr_service: list[bytes]
) -> None:
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "invoice.png").write_bytes(b"\x89PNG fake scan")
    settings: Settings = make_settings(
        database_url,
        documents={"storage_root": str(tmp_path)},
        handlers={"ocr": {"language": "deu+eng"}},
    )
    doc = await add_document(pool, "scans/invoice.png")

    registry = handlers.load(settings)
    assert "ocr" in registry.kinds(DOCUMENTS)
    job = Job(DOCUMENTS, uuid.uuid4(), 1, 5, operation="ocr", document_id=doc)
    await registry.start(pool)
    try:
        await registry.find(job)(job, Context(pool, settings, logs.get()))
    finally:
        await registry.stop()

    assert ocr_service == [b"\x89PNG fake scan"]
    row = await pool.fetchrow(
        "SELECT detected_type, word_count FROM document_extractions "
        "WHERE document_id = $1 AND search @@ websearch_to_tsquery('english', 'invoices due')",
        doc,
    )
    assert (row["detected_type"], row["word_count"]) == ("ocr", 4)


def test_a_plugins_section_is_validated_with_the_config_and_names_the_key(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site" / "acme_ocr-1.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ocr\nVersion: 1.0\n")
    (site / "entry_points.txt").write_text(ENTRY_POINTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(EXAMPLES)])}

    def check(toml: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "syncd.toml").write_text(toml)
        return subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(tmp_path / "syncd.toml"), "config",
             "check"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip

    good = check("[handlers.ocr]\nlanguage = 'deu+eng'\ntimeout = '2m'\n")
    assert good.returncode == 0, good.stderr
    bad = check("[handlers.ocr]\nlanguage = 'German please'\n")
    assert bad.returncode == 78
    assert "handlers.ocr.language" in bad.stderr and "Traceback" not in bad.stderr
    unknown = check("[handlers.ocr]\nlanguages = 'eng'\n[handlers.tesseract]\nx = 1\n")
    assert unknown.returncode == 78
    assert "handlers.ocr.languages: unknown key" in unknown.stderr
    assert "handlers.tesseract: unknown key" in unknown.stderr
