-- Take back the jobs of workers that stopped heartbeating more than $1 seconds ago
-- (kill -9, power loss, a frozen process). The attempt stays counted: a job that
-- keeps killing its worker must still run out of attempts. Due at once, since the
-- job itself did not fail. The rescuing worker ($2) spares its own jobs: it is
-- alive, it knows they are running, and a late heartbeat (a frozen listener, a
-- database away for a while) is not death. The attempt's history gets a 'rescued'
-- entry (syncd_append_attempt, migration 0016).
UPDATE {table} q
   SET status = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'pending' END,
       completed_at = CASE WHEN q.attempts >= q.max_attempts THEN now() END,
       next_retry = NULL,
       error_message = format('worker %s stopped during attempt %s (no heartbeat for %s s)',
                              coalesce(q.worker_id::text, 'unknown'), q.attempts, $1),
       attempts_log = syncd_append_attempt(q.attempts_log, jsonb_build_object(
           'attempt', q.attempts, 'at', now(), 'outcome', 'rescued', 'worker', q.worker_id,
           -- error_message's words again: SET cannot read a value it sets.
           'error', format('worker %s stopped during attempt %s (no heartbeat for %s s)',
                           coalesce(q.worker_id::text, 'unknown'), q.attempts, $1))),
       worker_id = NULL
 WHERE q.status = 'processing'
   AND q.worker_id IS DISTINCT FROM $2
   AND NOT EXISTS (
           SELECT 1 FROM syncd_workers w
            WHERE w.id = q.worker_id
              AND w.heartbeat_at >= now() - make_interval(secs => $1))
RETURNING q.*, q.status AS outcome
