-- Record many entity -> item links at once (a backfill's matches), each with the
-- hash of what the item holds now ('' when it differs from the row: the next push
-- then updates it). One statement for thousands of links; an existing link is moved.
INSERT INTO monday_items (entity_type, entity_id, board_id, item_id, values_hash, pushed_values)
SELECT $1, link.entity_id, $2, link.item_id, link.values_hash, link.pushed_values
FROM unnest($3::uuid[], $4::bigint[], $5::text[], $6::jsonb[])
     AS link (entity_id, item_id, values_hash, pushed_values)
ON CONFLICT (entity_type, entity_id, board_id) DO UPDATE
SET item_id = EXCLUDED.item_id,
    values_hash = EXCLUDED.values_hash,
    pushed_values = EXCLUDED.pushed_values,
    synced_at = now()
