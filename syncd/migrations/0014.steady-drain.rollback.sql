ALTER TABLE document_processing_queue SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000
);
ALTER TABLE sync_queue SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000
);
CREATE INDEX ix_document_processing_queue_finished
    ON document_processing_queue (completed_at)
    WHERE status IN ('completed', 'cancelled');
CREATE INDEX ix_sync_queue_finished
    ON sync_queue (completed_at)
    WHERE status IN ('completed', 'cancelled');
CREATE INDEX ix_sync_queue_entity ON sync_queue (entity_type, entity_id);
