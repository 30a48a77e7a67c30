-- The item drifted from the row: forget the hash of the last push, so that the push
-- a reconcile enqueues is sent instead of being skipped as unchanged.
UPDATE monday_items SET values_hash = ''
WHERE entity_type = $1 AND board_id = $2 AND entity_id = ANY($3::uuid[])
