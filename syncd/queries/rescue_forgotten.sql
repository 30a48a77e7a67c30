-- Take back jobs the database says this worker ($2) is running but it is not.
-- rescue.sql spares a live worker's jobs, so without this they would wait for its
-- restart. Two ways they come about:
--   * a claim committed, and its answer was lost with the connection: the worker
--     never learnt it had the jobs;
--   * the database lost writes it had acknowledged (synchronous_commit = off and
--     a crash, a failover to an asynchronous standby): a job the worker finished
--     is `processing` again.
-- $3 holds every job the worker had when it looked (running, claimed ahead, its
-- outcome not yet written), at a moment when no claim of its own was in flight.
-- $1 is `rescue_after` before the poll that made it look: a claim sent after that
-- moment stamps a later last_attempt, so a job this worker came to hold since
-- cannot match, however long this statement took to arrive. Like rescue.sql, the
-- attempt stays counted, the job is due at once, and its history gets a 'rescued' entry.
UPDATE {table} q
   SET status = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'pending' END,
       completed_at = CASE WHEN q.attempts >= q.max_attempts THEN now() END,
       next_retry = NULL,
       error_message = format('worker %s lost track of attempt %s (its claim''s answer or '
                              'its outcome was lost)', q.worker_id, q.attempts),
       attempts_log = syncd_append_attempt(q.attempts_log, jsonb_build_object(
           'attempt', q.attempts, 'at', now(), 'outcome', 'rescued', 'worker', q.worker_id,
           -- error_message's words again: SET cannot read a value it sets.
           'error', format('worker %s lost track of attempt %s (its claim''s answer or '
                           'its outcome was lost)', q.worker_id, q.attempts))),
       worker_id = NULL
 WHERE q.status = 'processing'
   AND q.worker_id = $2
   AND q.last_attempt < $1
   AND q.id <> ALL ($3::uuid[])
RETURNING q.*, q.status AS outcome
