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
-- cannot match, however long this statement took to arrive. Taken back as
-- rescue.sql takes a dead worker's jobs (take_back.sql).
WITH taken AS (
    SELECT q.*,
           format('worker %s lost track of attempt %s (its claim''s answer or '
                  'its outcome was lost)', q.worker_id, q.attempts) AS reason
      FROM {table} q
     WHERE q.status = 'processing'
       AND q.worker_id = $2
       AND q.last_attempt < $1
       AND q.id <> ALL ($3::uuid[])
       FOR UPDATE OF q
),
{part:take_back}
