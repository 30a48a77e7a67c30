"""Every GraphQL operation syncd sends to monday.com, in one place.

Each one asks for ``complexity`` so that the pacer learns what the call cost and how
much budget is left, and takes its data as variables, never spliced into the text:
the text stays fixed (so its cost is learnt once) and values need no escaping. The
tests validate each of them against monday's published schema.
"""

from __future__ import annotations

from dataclasses import dataclass

_COMPLEXITY = "complexity { query before after reset_in_x_seconds }"


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    text: str

    @property
    def is_mutation(self) -> bool:
        return self.text.lstrip().startswith("mutation")


CREATE_ITEM = Operation(
    "create_item",
    "mutation CreateItem($board: ID!, $group: String, $name: String!, $values: JSON) {"
    " create_item(board_id: $board, group_id: $group, item_name: $name,"
    " column_values: $values) { id }"
    f" {_COMPLEXITY} }}",
)

UPDATE_ITEM = Operation(
    "change_multiple_column_values",
    "mutation UpdateItem($board: ID!, $item: ID!, $values: JSON!) {"
    " change_multiple_column_values(board_id: $board, item_id: $item,"
    " column_values: $values) { id }"
    f" {_COMPLEXITY} }}",
)

ARCHIVE_ITEM = Operation(
    "archive_item",
    f"mutation ArchiveItem($item: ID!) {{ archive_item(item_id: $item) {{ id }} {_COMPLEXITY} }}",
)

DELETE_ITEM = Operation(
    "delete_item",
    f"mutation DeleteItem($item: ID!) {{ delete_item(item_id: $item) {{ id }} {_COMPLEXITY} }}",
)

FIND_ITEM = Operation(
    "items_page_by_column_values",
    "query FindItem($board: ID!, $column: String!, $value: String!) {"
    " items_page_by_column_values(board_id: $board, limit: 2,"
    " columns: [{column_id: $column, column_values: [$value]}]) { items { id } }"
    f" {_COMPLEXITY} }}",
)

# The lookup of a retried create: the item's name and stored values come along, so
# that an item the lost attempt made with these very values needs no update. Its own
# name: the pacer learns each document's cost by name, and this one costs more.
FIND_ITEM_VALUES = Operation(
    "items_page_by_column_values+values",
    "query FindItemValues($board: ID!, $column: String!, $value: String!,"
    " $columns: [String!]!) {"
    " items_page_by_column_values(board_id: $board, limit: 2,"
    " columns: [{column_id: $column, column_values: [$value]}]) {"
    " items { id name column_values(ids: $columns) { id type value"
    " ... on StatusValue { label } } } }"
    f" {_COMPLEXITY} }}",
)

GET_ITEM = Operation(
    "items",
    "query GetItem($item: ID!, $columns: [String!]) {"
    " items(ids: [$item]) { id name state updated_at board { id }"
    " column_values(ids: $columns) { id type text value } }"
    f" {_COMPLEXITY} }}",
)

ALL = (
    CREATE_ITEM,
    UPDATE_ITEM,
    ARCHIVE_ITEM,
    DELETE_ITEM,
    FIND_ITEM,
    FIND_ITEM_VALUES,
    GET_ITEM,
)
