-- Every item link of one entity type on one board: what a backfill or a reconcile
-- compares the board with. One pass over the primary key's prefix.
SELECT entity_id, item_id, values_hash, pushed_values
FROM monday_items
WHERE entity_type = $1 AND board_id = $2
