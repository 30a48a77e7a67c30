"""HTML text extraction on hostile input: syncd's lxml reader against html.parser.

    python bench/html_parsing.py [--megabytes 4] [--budget 120]

CVE-2025-6069: Python's html.parser takes quadratic time on some input, such as a
page of nothing but `<!`. syncd reads HTML with libxml2 (syncd/handlers/documents/
html_page.py) instead. This times both on the same page, and html.parser in a child
process that is killed after `--budget` seconds (the default document timeout), as
an extractor would be.

Prints one JSON line: the input size, lxml's seconds, and html.parser's seconds, or
null with `html_parser_killed` if it ran past the budget.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from syncd.handlers.documents import html_page


def _with_html_parser(page: str) -> None:
    from html.parser import HTMLParser

    parser = HTMLParser()
    parser.feed(page)
    parser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--budget", type=float, default=120.0)
    args = parser.parse_args()
    page = "<!" * int(args.megabytes * 1_000_000 / 2)

    started = time.perf_counter()
    html_page.read(page)
    lxml_s = time.perf_counter() - started

    child = multiprocessing.Process(target=_with_html_parser, args=(page,))
    started = time.perf_counter()
    child.start()
    child.join(args.budget)
    html_parser_s: float | None = time.perf_counter() - started
    killed = child.is_alive()
    if killed:
        child.kill()
        child.join()
        html_parser_s = None
    print(
        json.dumps(
            {
                "input_bytes": len(page),
                "lxml_s": round(lxml_s, 3),
                "html_parser_s": None if html_parser_s is None else round(html_parser_s, 3),
                "html_parser_killed": killed,
                "budget_s": args.budget,
            }
        )
    )


if __name__ == "__main__":
    main()
