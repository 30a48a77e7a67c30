-- The remote asked us to wait: job $2 goes back to pending until $4 and its
-- attempt $3 is given back, so rate limits never burn attempts.
UPDATE {table}
   SET status = 'pending',
       attempts = attempts - 1,
       next_retry = $4,
       error_message = $5,
       worker_id = NULL
 WHERE id = $2 AND attempts = $3 AND worker_id = $1 AND status = 'processing'
RETURNING next_retry
