-- Remember (or move to) the item an entity lives in, with the values just pushed.
INSERT INTO monday_items (entity_type, entity_id, board_id, item_id, values_hash)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (entity_type, entity_id, board_id) DO UPDATE
SET item_id = EXCLUDED.item_id,
    values_hash = EXCLUDED.values_hash,
    synced_at = now()
