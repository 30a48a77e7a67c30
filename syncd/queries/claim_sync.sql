-- Claim up to $2 due sync jobs for worker $1: highest priority first, then oldest.
-- SKIP LOCKED lets any number of workers claim at once without waiting on each
-- other. An entity that already has a running job is skipped, and of several due
-- jobs for one entity only the first is taken: two concurrent pushes of one contact
-- would create two monday items (ux_sync_queue_one_processing backs this up if two
-- claims race). Claiming counts the attempt and refreshes the worker's heartbeat in
-- the same transaction, so a rescuer never mistakes a fresh claim for a dead one.
-- OFFSET 0 keeps the running-entity check a per-candidate probe of the processing
-- index: as an anti-join the planner (expecting few processing rows) scans that
-- whole index for every claim, dead entries of every job claimed since the last
-- vacuum included (5,141 of 6,138 buffers after 100k jobs, bench/backlog.py).
-- $3 are the entity types paused (syncd pause sync --kind K; empty: none): their
-- jobs stay pending. A paused queue as a whole is not claimed at all.
WITH {part:claim_begins},
candidates AS (
    SELECT q.id, q.entity_type, q.entity_id, q.priority, q.created_at
      FROM sync_queue q
     WHERE q.status = 'pending'
       AND (q.next_retry IS NULL OR q.next_retry <= now())
       AND q.entity_type <> ALL($3::text[])
       AND NOT EXISTS (
               SELECT 1 FROM sync_queue running
                WHERE running.status = 'processing'
                  AND running.entity_type = q.entity_type
                  AND running.entity_id = q.entity_id
                OFFSET 0)
     ORDER BY q.priority DESC, q.created_at, q.id
     LIMIT $2
       FOR UPDATE SKIP LOCKED
),
chosen AS (
    SELECT DISTINCT ON (entity_type, entity_id) id
      FROM candidates
     ORDER BY entity_type, entity_id, priority DESC, created_at, id
)
UPDATE sync_queue q
   SET status = 'processing',
       attempts = q.attempts + 1,
       last_attempt = now(),
       started_at = now(),
       worker_id = $1
  FROM chosen, quick
 WHERE q.id = chosen.id
RETURNING q.id, q.attempts, q.max_attempts, q.priority, q.created_at, q.operation,
          q.entity_type, q.entity_id, q.direction, q.payload
