-- A permanent failure of attempt $3 of job $2 by worker $1: dead at once.
UPDATE {table}
   SET status = 'failed',
       next_retry = NULL,
       completed_at = now(),
       error_message = $4,
       worker_id = NULL
 WHERE id = $2 AND attempts = $3 AND worker_id = $1 AND status = 'processing'
RETURNING status
