-- A retryable failure of attempt $3 of job $2 by worker $1 (fenced like complete.sql).
-- With attempts left the job waits $4 seconds from now, the time of the failure;
-- without, it is dead ('failed'). The row's own max_attempts decides.
UPDATE {table}
   SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
       next_retry = CASE WHEN attempts >= max_attempts THEN NULL
                         ELSE now() + make_interval(secs => $4) END,
       completed_at = CASE WHEN attempts >= max_attempts THEN now() END,
       error_message = $5,
       worker_id = NULL
 WHERE id = $2 AND attempts = $3 AND worker_id = $1 AND status = 'processing'
RETURNING status, next_retry
