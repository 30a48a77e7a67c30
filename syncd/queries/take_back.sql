-- A part of rescue.sql and rescue_forgotten.sql, not a statement: what taking a job
-- back writes, after their CTE `taken` (the rows they take, locked, and `reason`).
-- The attempt stays counted: a job that keeps killing its worker must still run out
-- of attempts. Due at once, since the job itself did not fail. Its history gets a
-- 'rescued' entry saying why (syncd_append_attempt, migration 0016). One with
-- attempts left whose entity has a newer pending job (one with the queue's
-- one-pending key, queues.py) is folded into that one (fold_into_pending.sql),
-- which is then due at once as the rescued job would have been, and its history
-- entry names it.
folding AS (
    SELECT q.id, s.id AS into_id, q.operation, q.priority, NULL::timestamptz AS due
      FROM taken q
     CROSS JOIN LATERAL (
            SELECT s.id FROM {table} s WHERE s.status = 'pending' AND {sibling} LIMIT 1) s
     WHERE q.attempts < q.max_attempts
),
{part:fold_into_pending}
UPDATE {table} q
   SET status = CASE WHEN m.id IS NOT NULL THEN 'cancelled'
                     WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'pending' END,
       completed_at = CASE WHEN m.id IS NOT NULL OR q.attempts >= q.max_attempts THEN now() END,
       next_retry = NULL,
       error_message = coalesce('merged into pending job ' || m.into_id, t.reason),
       attempts_log = syncd_append_attempt(q.attempts_log, jsonb_strip_nulls(jsonb_build_object(
               'attempt', q.attempts, 'at', now(), 'outcome', 'rescued', 'worker', q.worker_id,
               'error', t.reason, 'merged_into', m.into_id))),
       worker_id = NULL
  FROM taken t
  LEFT JOIN merged m ON m.id = t.id
 WHERE q.id = t.id
RETURNING q.*, q.status AS outcome, t.reason, m.into_id AS merged_into
