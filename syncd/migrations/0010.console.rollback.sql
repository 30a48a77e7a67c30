DROP TABLE syncd_audit;
DROP INDEX ix_sync_queue_entity_id;
DROP INDEX ix_document_processing_queue_ended;
DROP INDEX ix_sync_queue_ended;
DROP INDEX ix_document_processing_queue_newest;
DROP INDEX ix_sync_queue_newest;
DROP INDEX ix_document_processing_queue_live;
DROP INDEX ix_sync_queue_live;
