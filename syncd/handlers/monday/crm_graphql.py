"""The GraphQL documents of the CRM features (SPEC §11): paging a board for a backfill
or a reconcile, filling the key column of an adopted item, managing webhooks, and the
pull's look at one item with what ownership needs.

Shaped like every other document syncd sends (see `operations`): each asks for
``complexity`` so the pacer learns its cost, and takes its data as variables. The
tests validate each against monday's published schema.
"""

from __future__ import annotations

from syncd.handlers.monday.operations import Operation

_COMPLEXITY = "complexity { query before after reset_in_x_seconds }"
# What a backfill and a reconcile compare: the item's name, its last change, and the
# values of the key column and the mapped columns, as `columns.holds` reads them.
_ITEM = (
    "id name state updated_at"
    " column_values(ids: $columns) { id type text value ... on StatusValue { label } }"
)
# monday's largest page.
PAGE_SIZE = 500

FIRST_PAGE = Operation(
    "items_page",
    "query FirstPage($board: ID!, $limit: Int!, $columns: [String!]) {"
    f" boards(ids: [$board]) {{ items_page(limit: $limit) {{ cursor items {{ {_ITEM} }} }} }}"
    f" {_COMPLEXITY} }}",
)

NEXT_PAGE = Operation(
    "next_items_page",
    "query NextPage($cursor: String!, $limit: Int!, $columns: [String!]) {"
    f" next_items_page(cursor: $cursor, limit: $limit) {{ cursor items {{ {_ITEM} }} }}"
    f" {_COMPLEXITY} }}",
)

# A pull reads every mapped column (not only the pulled ones): after applying
# monday's fields it checks that the item holds the CRM's, and a status column's
# label is what that check compares.
GET_ITEM = Operation(
    "items+owned",
    "query GetItemOwned($item: ID!, $columns: [String!]) {"
    f" items(ids: [$item]) {{ {_ITEM} }}"
    f" {_COMPLEXITY} }}",
)

# Fills the key column of an item a backfill adopted: a text column takes a plain
# string, the cheapest mutation that writes one column.
SET_KEY = Operation(
    "change_simple_column_value",
    "mutation SetKey($board: ID!, $item: ID!, $column: String!, $value: String!) {"
    " change_simple_column_value(board_id: $board, item_id: $item, column_id: $column,"
    " value: $value) { id }"
    f" {_COMPLEXITY} }}",
)

LIST_WEBHOOKS = Operation(
    "webhooks",
    "query ListWebhooks($board: ID!) {"
    " webhooks(board_id: $board) { id board_id event config }"
    f" {_COMPLEXITY} }}",
)

CREATE_WEBHOOK = Operation(
    "create_webhook",
    "mutation CreateWebhook($board: ID!, $url: String!, $event: WebhookEventType!,"
    " $config: JSON) {"
    " create_webhook(board_id: $board, url: $url, event: $event, config: $config)"
    " { id board_id event }"
    f" {_COMPLEXITY} }}",
)

DELETE_WEBHOOK = Operation(
    "delete_webhook",
    "mutation DeleteWebhook($id: ID!) {"
    " delete_webhook(id: $id) { id board_id }"
    f" {_COMPLEXITY} }}",
)

ALL = (FIRST_PAGE, NEXT_PAGE, GET_ITEM, SET_KEY, LIST_WEBHOOKS, CREATE_WEBHOOK, DELETE_WEBHOOK)
