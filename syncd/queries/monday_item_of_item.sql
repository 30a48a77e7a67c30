-- Which entity a monday item belongs to (a webhook names the item, not the entity),
-- with what syncd last pushed to it. ix_monday_items_item serves it.
SELECT entity_type, entity_id, values_hash, pushed_values
FROM monday_items
WHERE board_id = $1 AND item_id = $2
