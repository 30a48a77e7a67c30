-- depends: 0004.notify-triggers 0005.result-tables
-- Each running syncd process registers here and, while it holds jobs, refreshes
-- its heartbeat. A job whose worker's heartbeat is older than `rescue_after` is
-- taken back by any live worker.
CREATE TABLE syncd_workers (
    id           uuid        PRIMARY KEY,
    hostname     text        NOT NULL,
    pid          integer     NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Which worker holds a `processing` job. Every outcome write is fenced on it and
-- on the attempt number, so a worker that froze and lost its job cannot overwrite
-- the newer attempt's outcome. Nullable with no default: an application's INSERT
-- naming only the documented columns keeps working.
ALTER TABLE sync_queue ADD COLUMN worker_id uuid;
ALTER TABLE document_processing_queue ADD COLUMN worker_id uuid;

-- At most one running job per entity across every worker: the claim skips an
-- entity that has one, and this index is the database's guarantee if two claims race.
CREATE UNIQUE INDEX ux_sync_queue_one_processing
    ON sync_queue (entity_type, entity_id)
    WHERE status = 'processing';
CREATE UNIQUE INDEX ux_document_processing_queue_one_processing
    ON document_processing_queue (document_id)
    WHERE status = 'processing';

-- Retention deletes finished rows by age.
CREATE INDEX ix_sync_queue_finished
    ON sync_queue (completed_at)
    WHERE status IN ('completed', 'cancelled');
CREATE INDEX ix_document_processing_queue_finished
    ON document_processing_queue (completed_at)
    WHERE status IN ('completed', 'cancelled');
