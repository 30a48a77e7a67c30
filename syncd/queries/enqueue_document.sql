INSERT INTO document_processing_queue (document_id, operation, priority)
VALUES ($1, $2, $3)
RETURNING id
