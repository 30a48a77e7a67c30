ALTER TABLE document_processing_queue DROP COLUMN attempts_log;
ALTER TABLE sync_queue DROP COLUMN attempts_log;
