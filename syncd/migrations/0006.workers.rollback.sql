DROP INDEX ix_document_processing_queue_finished;
DROP INDEX ix_sync_queue_finished;
DROP INDEX ux_document_processing_queue_one_processing;
DROP INDEX ux_sync_queue_one_processing;
ALTER TABLE document_processing_queue DROP COLUMN worker_id;
ALTER TABLE sync_queue DROP COLUMN worker_id;
DROP TABLE syncd_workers;
