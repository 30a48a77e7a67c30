-- Write the outcomes of a batch of attempts by worker $1, every kind alike
-- (completed, retry, failed, snoozed, released) in one round trip and one
-- statement, as River's JobSetStateIfRunningMany does: one row per attempt in
-- the arrays $2.., each with its own target. A column that is NULL in every row
-- (the errors of a batch of completions) may come as a NULL array: unnest pads it
-- with NULLs, and a NULL timed_out reads as false.
--
-- Fenced: a row is written only while it is still this worker's attempt
-- (worker_id, attempts, 'processing'), so a job rescued from a frozen worker
-- keeps its newer attempt's outcome.
--
-- The attempt goes on the row's history in the same statement (attempts_log,
-- SPEC §9; syncd_append_attempt, migration 0016, keeps the newest 25).
--
-- A retry gives up (status 'failed') when the row has no attempts left: the row's
-- own max_attempts decides, even if edited since the claim. Snoozes and releases
-- give the attempt back. Times are the database's: a retry waits from the moment
-- of the failure's write.
--
-- A job bound back to pending (a retry with attempts left, a snooze, a release)
-- whose entity got a pending job while it ran is folded into that newer job
-- (fold_into_pending.sql: the rules and why), and ends `cancelled`, "merged into
-- pending job <id>", its attempt on its history as it went (retry, timed_out,
-- snoozed, released) with `merged_into`. Only such rows look for a sibling, a
-- pending job with the queue's one-pending key (queues.py; the documents queue has
-- none, and its test is `false`): a batch of completions looks nothing up. The folding row is locked first
-- and the fence read on its newest version, so a rescuer that took it meanwhile
-- cannot have it folded twice. A newer job whose INSERT has not committed yet is
-- not seen here, and the unique index refuses the row once it commits: the writer
-- tries the row again, and that statement folds it.
--
-- The second half recognises a write that already happened: when the reply to
-- an earlier try of this same batch was lost, the rows are no longer ours and
-- match nothing above, yet their newest history entry is this worker's, this
-- attempt's, with this outcome. They come back with `already`, so the writer
-- logs the outcome rather than a false job.fenced; a folded one with the job it
-- went into, from that entry. A rescuer's entry says 'rescued', so a job truly
-- taken back is never mistaken for one.
WITH given AS (
    -- A batch of nothing but completions sends no kinds either (NULL: completed).
    SELECT g.id, g.attempt, coalesce(g.kind, 'completed') AS kind, g.delay_s, g.until,
           g.error, g.duration_ms, g.timed_out
      FROM unnest($2::uuid[], $3::int[], $4::text[], $5::float8[], $6::timestamptz[],
                  $7::text[], $8::float8[], $9::bool[])
           AS g (id, attempt, kind, delay_s, until, error, duration_ms, timed_out)
),
folding AS (
    SELECT g.id, s.id AS into_id, q.operation, q.priority,
           CASE g.kind WHEN 'retry' THEN now() + make_interval(secs => g.delay_s)
                       WHEN 'snoozed' THEN g.until END AS due
      FROM given g
     -- A primary-key probe (the fence outside it, or the planner walks the whole
     -- processing index for each row), locking the row: the fence below reads
     -- its newest version.
     CROSS JOIN LATERAL (SELECT * FROM {table} r WHERE r.id = g.id LIMIT 1 FOR UPDATE) q
     CROSS JOIN LATERAL (
            SELECT s.id FROM {table} s WHERE s.status = 'pending' AND {sibling} LIMIT 1) s
     WHERE g.kind IN ('retry', 'snoozed', 'released')
       AND q.attempts = g.attempt
       AND q.worker_id = $1
       AND q.status = 'processing'
       AND (g.kind <> 'retry' OR q.attempts < q.max_attempts)
),
{part:fold_into_pending},
written AS (
    UPDATE {table} q
       SET status = CASE
                WHEN m.id IS NOT NULL THEN 'cancelled'
                WHEN g.kind IN ('completed', 'failed') THEN g.kind
                WHEN g.kind = 'retry' AND q.attempts >= q.max_attempts THEN 'failed'
                ELSE 'pending' END,
           attempts = CASE WHEN g.kind IN ('snoozed', 'released') THEN q.attempts - 1
                           ELSE q.attempts END,
           next_retry = CASE WHEN m.id IS NULL THEN CASE g.kind
                WHEN 'completed' THEN q.next_retry
                WHEN 'retry' THEN CASE WHEN q.attempts < q.max_attempts
                                       THEN now() + make_interval(secs => g.delay_s) END
                WHEN 'snoozed' THEN g.until
                END END,
           completed_at = CASE
                WHEN g.kind IN ('completed', 'failed') OR m.id IS NOT NULL THEN now()
                WHEN g.kind = 'retry' THEN CASE WHEN q.attempts >= q.max_attempts THEN now() END
                ELSE q.completed_at END,
           error_message = CASE
                WHEN m.id IS NOT NULL THEN 'merged into pending job ' || m.into_id
                WHEN g.kind = 'completed' THEN NULL
                WHEN g.kind = 'released' THEN q.error_message
                ELSE g.error END,
           worker_id = NULL,
           attempts_log = syncd_append_attempt(q.attempts_log, jsonb_strip_nulls(jsonb_build_object(
                'attempt', g.attempt,
                'at', now(),
                'outcome', CASE
                     WHEN g.timed_out THEN 'timed_out'
                     WHEN g.kind = 'retry' AND q.attempts >= q.max_attempts THEN 'failed'
                     ELSE g.kind END,
                'error', g.error,
                'duration_ms', g.duration_ms,
                'worker', $1::uuid,
                'merged_into', m.into_id)))
      FROM given g
      LEFT JOIN merged m ON m.id = g.id
     WHERE q.id = g.id
       AND q.attempts = g.attempt
       AND q.worker_id = $1
       AND q.status = 'processing'
    -- A folded job's next_retry is the newer job's: when the entity's work is due.
    RETURNING q.id, g.attempt, q.status, CASE WHEN m.id IS NULL THEN q.next_retry
                                              ELSE m.next_retry END AS next_retry,
              q.attempts_log -> -1 ->> 'outcome' AS outcome, m.into_id AS merged_into
)
SELECT id, attempt, status, next_retry, outcome, false AS already, merged_into
  FROM written
UNION ALL
SELECT q.id, g.attempt, q.status, q.next_retry, q.attempts_log -> -1 ->> 'outcome', true,
       (q.attempts_log -> -1 ->> 'merged_into')::uuid
  FROM given g
  -- One primary-key probe per row the update did not take (LIMIT keeps the
  -- planner from turning it into a scan of the whole table).
  CROSS JOIN LATERAL (SELECT * FROM {table} r WHERE r.id = g.id LIMIT 1) q
 WHERE g.id NOT IN (SELECT id FROM written)
   AND q.attempts_log -> -1 @> jsonb_build_object('worker', $1::uuid, 'attempt', g.attempt)
   AND q.attempts_log -> -1 ->> 'outcome' = ANY (CASE
            WHEN g.timed_out THEN ARRAY['timed_out']
            WHEN g.kind = 'retry' THEN ARRAY['retry', 'failed']
            ELSE ARRAY[g.kind] END)
