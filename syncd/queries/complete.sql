-- Record the success of a batch of attempts by worker $1 in one round trip.
-- Fenced: a row is written only while it is still this worker's attempt, so a job
-- rescued from a frozen worker keeps its newer attempt's outcome. The ids that come
-- back are the ones written.
UPDATE {table} q
   SET status = 'completed',
       completed_at = now(),
       error_message = NULL,
       worker_id = NULL
  FROM unnest($2::uuid[], $3::int[]) AS done (id, attempt)
 WHERE q.id = done.id
   AND q.attempts = done.attempt
   AND q.worker_id = $1
   AND q.status = 'processing'
RETURNING q.id
