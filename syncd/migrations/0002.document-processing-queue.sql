-- depends: 0001.host-tables
-- The seed's 13 columns, names, types and defaults, kept exactly so that the host
-- application's existing INSERTs work unchanged.
CREATE TABLE document_processing_queue (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    document_id   uuid        NOT NULL,
    status        varchar(20) NOT NULL DEFAULT 'pending',
    operation     varchar(20) NOT NULL,
    priority      integer     NOT NULL DEFAULT 0,
    attempts      integer     NOT NULL DEFAULT 0,
    max_attempts  integer     NOT NULL DEFAULT 5,
    last_attempt  timestamptz,
    next_retry    timestamptz,
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz,
    CONSTRAINT document_processing_queue_pkey PRIMARY KEY (id),
    CONSTRAINT fk_document_processing_queue_document_id
        FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE,
    CONSTRAINT ck_document_processing_queue_status
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled'))
)
-- Every job row is updated several times in its life: leave room on the page for
-- HOT updates and vacuum the table long before the default 20 % of dead rows.
WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

CREATE INDEX ix_document_processing_queue_document_id ON document_processing_queue (document_id);
CREATE INDEX ix_document_processing_queue_status ON document_processing_queue (status);
CREATE INDEX ix_document_processing_queue_next_retry ON document_processing_queue (next_retry);
CREATE INDEX ix_document_processing_queue_priority ON document_processing_queue (priority);
-- The claim path: due pending jobs in run order.
CREATE INDEX ix_document_processing_queue_pending_retry
    ON document_processing_queue (priority DESC, created_at, id)
    WHERE status = 'pending';
