-- An operator's retry: the job becomes due now. Its attempt history is kept; a job
-- that had used them all gets one more.
UPDATE {table}
   SET status = 'pending',
       next_retry = NULL,
       completed_at = NULL,
       max_attempts = greatest(max_attempts, attempts + 1)
 WHERE id = $1 AND status IN ('failed', 'cancelled', 'pending')
RETURNING id
