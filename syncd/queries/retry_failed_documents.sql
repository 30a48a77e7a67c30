-- An operator's retry of every dead document job (see retry_job.sql).
UPDATE document_processing_queue
   SET status = 'pending',
       next_retry = NULL,
       completed_at = NULL,
       max_attempts = greatest(max_attempts, attempts + 1)
 WHERE status = 'failed'
RETURNING id
