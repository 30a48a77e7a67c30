-- Shutdown: jobs $2 that did not finish within the grace go back to pending, due
-- now, with their attempts given back (the attempt was cut short, not failed).
UPDATE {table} q
   SET status = 'pending',
       attempts = q.attempts - 1,
       next_retry = NULL,
       worker_id = NULL
  FROM unnest($2::uuid[], $3::int[]) AS cut (id, attempt)
 WHERE q.id = cut.id
   AND q.attempts = cut.attempt
   AND q.worker_id = $1
   AND q.status = 'processing'
RETURNING q.id
