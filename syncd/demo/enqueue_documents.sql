-- The application hands syncd its uploaded files: a plain INSERT, whose trigger
-- sends one NOTIFY; the daemon claims the jobs at once.
INSERT INTO document_processing_queue (document_id, operation)
SELECT id, 'extract' FROM documents ORDER BY storage_path;
