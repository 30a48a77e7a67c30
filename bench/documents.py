"""Document extraction: 200 mixed files through the daemon, and the event loop's worst lag.

    python bench/documents.py [--database-url URL] [--files 200] [--workers N]

The real path, in one process: documents rows and `extract` jobs are inserted,
then syncd's Worker (`--once`) claims them, resolves each file, extracts it in
the extractor processes and upserts document_extractions. Beside it a ticker
task asks to wake every 5 ms and records how late it wakes: any CPU-bound work
on the event loop shows up there as lag.

The files are generated: PDFs of 1 to 40 pages (reportlab), DOCX with a table,
UTF-8 and Latin-1 text up to 2 MB, Markdown, CSV and HTML.

Prints one JSON line: docs_per_s, mb_per_s (10^6 bytes of input per second),
max_loop_lag_ms, and the figures they come from. The clock runs from the
Worker's start (extractor processes included) to the last outcome written.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import tempfile
import time
from pathlib import Path

import asyncpg
import docx
from common import database  # type: ignore[import-not-found]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from syncd import logs
from syncd.config import Settings
from syncd.handlers import Registry
from syncd.handlers.documents import install
from syncd.worker import Worker

WORDS = [
    "invoice",
    "contract",
    "engine",
    "analysis",
    "report",
    "quarterly",
    "revenue",
    "customer",
    "meeting",
    "budget",
    "hiring",
    "design",
    "review",
    "release",
    "notes",
    "outlook",
    "figures",
    "appendix",
    "summary",
    "schedule",
    "risk",
]
TICK = 0.005


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def make_pdf(rng: random.Random) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setTitle(prose(rng, 3))
    page.setAuthor("Bench")
    for _ in range(rng.choice([1, 2, 5, 10, 40])):
        for line in range(45):
            page.drawString(40, 800 - line * 17, prose(rng, 12))
        page.showPage()
    page.save()
    return out.getvalue()


def make_docx(rng: random.Random) -> bytes:
    document = docx.Document()
    for _ in range(rng.randint(5, 60)):
        document.add_paragraph(prose(rng, rng.randint(10, 80)))
    table = document.add_table(rows=10, cols=4)
    for row in table.rows:
        for cell in row.cells:
            cell.text = prose(rng, 2)
    document.core_properties.title = prose(rng, 3)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_text(rng: random.Random) -> bytes:
    size = rng.choice([2_000, 20_000, 200_000, 2_000_000])
    text = "\n".join(prose(rng, 15) + " café" for _ in range(size // 110))
    return text.encode(rng.choice(["utf-8", "latin-1"]))


def make_markdown(rng: random.Random) -> bytes:
    parts = [f"# {prose(rng, 3)}\n"]
    for _ in range(rng.randint(5, 50)):
        parts.append(f"## {prose(rng, 2)}\n\n{prose(rng, 60)} [link](https://example.com)\n")
    return "\n".join(parts).encode()


def make_csv(rng: random.Random) -> bytes:
    rows = ["id,name,city,amount"]
    rows += [f"{i},{rng.choice(WORDS)},{rng.choice(WORDS)},{i * 7}" for i in range(20_000)]
    return "\n".join(rows[: rng.choice([100, 2_000, 20_000])]).encode()


def make_html(rng: random.Random) -> bytes:
    body = "".join(f"<p>{prose(rng, 50)}</p><script>var x = {i};</script>" for i in range(300))
    head = f"<head><title>{prose(rng, 3)}</title><style>p {{ margin: 0 }}</style></head>"
    return f"<!DOCTYPE html><html>{head}<body>{body}</body></html>".encode()


MAKERS = [make_pdf, make_docx, make_text, make_markdown, make_csv, make_html]


def generate(root: Path, count: int) -> list[tuple[str, int]]:
    rng = random.Random(4)
    files = []
    for i in range(count):
        maker = MAKERS[i % len(MAKERS)]
        name = f"{maker.__name__[5:]}/{i:04d}.bin"  # the extension says nothing
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(maker(rng))
        files.append((name, path.stat().st_size))
    return files


async def enqueue(url: str, files: list[tuple[str, int]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for name, size in files:
            doc = await conn.fetchval(
                "INSERT INTO documents (filename, content_type, storage_path, size_bytes) "
                "VALUES ($1, 'application/octet-stream', $1, $2) RETURNING id",
                name,
                size,
            )
            await conn.execute(
                "INSERT INTO document_processing_queue (document_id, operation) "
                "VALUES ($1, 'extract')",
                doc,
            )
    finally:
        await conn.close()


async def ticker(lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(TICK)
        lags.append(loop.time() - before - TICK)


async def run(url: str, root: Path, workers: int) -> tuple[float, list[float], dict[str, int]]:
    settings = Settings(
        database={"url": url},
        queues={"documents": {"concurrency": workers, "timeout": 300}},
        documents={"storage_root": str(root), "workers": workers},
        log={"level": "warning", "format": "json"},
    )
    registry = Registry()
    install(registry, settings)
    lags: list[float] = []
    tick = asyncio.create_task(ticker(lags))
    started = time.monotonic()
    await Worker(settings, registry, once=True).run()
    seconds = time.monotonic() - started
    tick.cancel()
    conn = await asyncpg.connect(url)
    try:
        statuses = dict(
            await conn.fetch(
                "SELECT status, count(*) FROM document_processing_queue GROUP BY status"
            )
        )
        statuses |= dict(
            await conn.fetch(
                "SELECT 'extracted_' || detected_type, count(*) FROM document_extractions "
                "GROUP BY detected_type"
            )
        )
    finally:
        await conn.close()
    return seconds, lags, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    logs.setup(level="warning", fmt="json")
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-documents-"))
    files = generate(root, args.files)
    total = sum(size for _, size in files)
    with database(args.database_url, "syncd_bench_documents") as url:
        asyncio.run(enqueue(url, files))
        seconds, lags, statuses = asyncio.run(run(url, root, args.workers))
    ordered = sorted(lags)
    print(
        json.dumps(
            {
                "files": len(files),
                "bytes": total,
                "workers": args.workers,
                "seconds": round(seconds, 2),
                "outcomes": statuses,
                "docs_per_s": round(len(files) / seconds, 1),
                "mb_per_s": round(total / 1e6 / seconds, 2),
                "max_loop_lag_ms": round(ordered[-1] * 1000, 1),
                "p99_loop_lag_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
