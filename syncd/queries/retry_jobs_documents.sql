-- An operator's bulk retry of chosen dead document jobs ($1, from `syncd jobs`' filters).
UPDATE document_processing_queue
   SET status = 'pending',
       next_retry = NULL,
       completed_at = NULL,
       max_attempts = greatest(max_attempts, attempts + 1)
 WHERE id = ANY($1::uuid[]) AND status = 'failed'
RETURNING id
