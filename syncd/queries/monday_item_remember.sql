-- Remember (or move to) the item an entity lives in, with the values just pushed:
-- their hash says "unchanged" to the next push, the values themselves let a webhook
-- tell syncd's own change (an echo) from a person's edit.
INSERT INTO monday_items (entity_type, entity_id, board_id, item_id, values_hash, pushed_values)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (entity_type, entity_id, board_id) DO UPDATE
SET item_id = EXCLUDED.item_id,
    values_hash = EXCLUDED.values_hash,
    pushed_values = EXCLUDED.pushed_values,
    synced_at = now()
