-- `syncd jobs sync` and the console's job list: newest first, one keyset page.
-- Every filter is optional ($n IS NULL turns it off); syncd runs it with custom plans
-- so an unused filter folds away and the plan reads an index: ix_sync_queue_live
-- for any status but completed, ix_sync_queue_entity_id for one entity, otherwise
-- ix_sync_queue_newest. The page ends before the cursor ($6, $7), never at an OFFSET.
SELECT id, status, entity_type, entity_id, direction, operation, priority, attempts,
       max_attempts, created_at, last_attempt, next_retry, completed_at, error_message
  FROM sync_queue
 WHERE ($1::text IS NULL OR status = $1::text)
   AND ($2::uuid IS NULL OR entity_id = $2::uuid)
   AND ($3::text IS NULL OR entity_type = $3::text)
   AND ($4::text IS NULL OR error_message ILIKE $4::text)
   AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
   AND ($6::timestamptz IS NULL OR (created_at, id) < ($6::timestamptz, $7::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $8
