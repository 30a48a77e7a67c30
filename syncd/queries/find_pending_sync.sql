-- The pending job an enqueue merged into.
SELECT id FROM sync_queue
 WHERE entity_type = $1 AND entity_id = $2 AND direction = $3 AND status = 'pending'
