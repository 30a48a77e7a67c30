-- An entity's other sync jobs, newest first, for the job page (ix_sync_queue_entity_id).
SELECT id, status, operation, direction, attempts, max_attempts, created_at, error_message
  FROM sync_queue
 WHERE entity_id = $1 AND entity_type = $2
 ORDER BY created_at DESC
 LIMIT $3
