"""The demo's monday.com: the fake server, two boards, and the trouble it will make.

The trouble is what a real account sees on a bad day, injected through the fake's
fault hooks so that it happens on cue: one call answered with a 500 (the job is
retried after the short backoff), then one answered with a 429 asking for a pause
(the client stops all monday work for the token, the jobs caught in it are snoozed
without using up an attempt, and work resumes when the pause ends).
"""

from __future__ import annotations

from syncd.fake_monday import Column, FakeMonday

CONTACTS_BOARD = 1001
ORGANIZATIONS_BOARD = 1002
PAUSE_SECONDS = 2
INDUSTRIES = ["Software", "Hardware", "Research", "Retail"]


def boards(fake: FakeMonday) -> None:
    """The boards the demo config maps contacts and organizations to."""
    fake.boards.add_board(
        CONTACTS_BOARD,
        {"text_syncd_id": "text", "email": "email", "phone": "phone", "text_title": "text"},
        name="Contacts",
    )
    fake.boards.add_board(
        ORGANIZATIONS_BOARD,
        {
            "text_syncd_id": "text",
            "link": "link",
            "status": Column("status", "status", "Industry", INDUSTRIES),
            "country": "country",
        },
        name="Organizations",
    )


def bad_day(fake: FakeMonday) -> None:
    """The first item created gets a 500; the second, a 429 asking for a pause."""
    fake.faults.fail(500, when="create_item")
    fake.faults.fail(
        429,
        when="create_item",
        body={
            "errors": [
                {
                    "message": "Complexity budget exhausted",
                    "extensions": {
                        "code": "COMPLEXITY_BUDGET_EXHAUSTED",
                        "retry_in_seconds": PAUSE_SECONDS,
                    },
                }
            ]
        },
    )
