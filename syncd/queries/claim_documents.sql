-- Claim up to $2 due document jobs for worker $1: highest priority first, then
-- oldest, one job per document at a time (two extractions of one file would race
-- on its document_extractions row). See claim_sync.sql for the reasoning. $3 are
-- the operations paused (syncd pause documents --kind K).
WITH {part:claim_begins},
candidates AS (
    SELECT q.id, q.document_id, q.priority, q.created_at
      FROM document_processing_queue q
     WHERE q.status = 'pending'
       AND (q.next_retry IS NULL OR q.next_retry <= now())
       AND q.operation <> ALL($3::text[])
       AND NOT EXISTS (
               SELECT 1 FROM document_processing_queue running
                WHERE running.status = 'processing'
                  AND running.document_id = q.document_id
                OFFSET 0)
     ORDER BY q.priority DESC, q.created_at, q.id
     LIMIT $2
       FOR UPDATE SKIP LOCKED
),
chosen AS (
    SELECT DISTINCT ON (document_id) id
      FROM candidates
     ORDER BY document_id, priority DESC, created_at, id
)
UPDATE document_processing_queue q
   SET status = 'processing',
       attempts = q.attempts + 1,
       last_attempt = now(),
       started_at = now(),
       worker_id = $1
  FROM chosen, quick
 WHERE q.id = chosen.id
RETURNING q.id, q.attempts, q.max_attempts, q.priority, q.created_at, q.operation,
          q.document_id
