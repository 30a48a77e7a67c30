"""The arguments of `syncd monday backfill|reconcile|webhooks` (SPEC §11).

Only argparse here: `syncd.cli` builds its parser from this for every command, and
`syncd config check` must not load the monday client (aiohttp) to do so. Each
command sets ``monday_run`` to its name in `commands.RUN`, imported when it runs.
"""

from __future__ import annotations

import argparse


def add_commands(group: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bf = group.add_parser(
        "backfill",
        help="adopt the items already on an entity type's board, and push what differs",
        description=(
            "Page through the board, pair each row with its item (key column, then the "
            "entity's `match` field), record the pairs, fill the key column of adopted "
            "items and enqueue only what differs, at a low priority. Duplicates are "
            "reported and left alone. Run with --dry-run first to read the plan."
        ),
    )
    bf.add_argument(
        "entity_type", metavar="ENTITY_TYPE", help="a [monday.entities.*] name, e.g. contact"
    )
    bf.add_argument("--where", metavar="SQL", help="only the rows matching this SQL condition")
    bf.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    bf.add_argument("--json", action="store_true", help="the plan as one JSON object")
    bf.add_argument(
        "--priority", type=int, default=None, help="of the jobs enqueued (default: -10)"
    )
    bf.set_defaults(monday_run="backfill")

    rc = group.add_parser(
        "reconcile",
        help="compare the board with the rows and enqueue what drifted",
        description=(
            "Compare every linked row with its item, log each difference as monday.drift "
            "and enqueue the push or pull that repairs it. One process at a time."
        ),
    )
    rc.add_argument(
        "entity_type",
        metavar="ENTITY_TYPE",
        nargs="?",
        help="a [monday.entities.*] name (default: every mapped entity type)",
    )
    rc.add_argument("--dry-run", action="store_true", help="report the drift, enqueue nothing")
    rc.add_argument("--json", action="store_true", help="one JSON object per entity type")
    rc.set_defaults(monday_run="reconcile")

    wh = group.add_parser("webhooks", help="install, list or remove the boards' webhooks")
    wh.add_argument(
        "action",
        choices=["install", "list", "remove"],
        help="install the boards' webhooks, list them, or remove those syncd installed",
    )
    wh.add_argument("--entity", metavar="ENTITY_TYPE", help="only this entity type's board")
    wh.set_defaults(monday_run="webhooks")
