-- An operator's bulk retry of chosen dead sync jobs ($1, from `syncd jobs`' filters).
-- An entity keeps one pending job, so only its newest chosen job comes back, and none
-- where a change is already pending.
WITH newest AS (
    SELECT DISTINCT ON (entity_type, entity_id, direction) id, entity_type, entity_id, direction
      FROM sync_queue
     WHERE id = ANY($1::uuid[]) AND status = 'failed'
     ORDER BY entity_type, entity_id, direction, created_at DESC
)
UPDATE sync_queue q
   SET status = 'pending',
       next_retry = NULL,
       completed_at = NULL,
       max_attempts = greatest(q.max_attempts, q.attempts + 1)
  FROM newest
 WHERE q.id = newest.id
   AND NOT EXISTS (SELECT 1 FROM sync_queue p
                    WHERE p.status = 'pending'
                      AND (p.entity_type, p.entity_id, p.direction)
                        = (newest.entity_type, newest.entity_id, newest.direction))
RETURNING q.id
