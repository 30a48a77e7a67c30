-- A document's other jobs, newest first, for the job page (its document_id index).
SELECT id, status, operation, attempts, max_attempts, created_at, error_message
  FROM document_processing_queue
 WHERE document_id = $1
 ORDER BY created_at DESC
 LIMIT $2
