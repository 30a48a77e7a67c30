-- depends: 0008.attempts-log
-- Reading state cheaply at any size (SPEC §9): `syncd status`, `syncd jobs`, the
-- metrics and the console read these indexes, never the whole queue table.
--
-- live: every row that is not completed, by status and newest first. Completed
-- rows are the bulk of a queue and stay out, so counting pending, running, failed
-- or cancelled jobs, finding the oldest due one and listing them newest first are
-- index-only scans over the few rows that matter. next_retry rides along for "due".
CREATE INDEX ix_sync_queue_live
    ON sync_queue (status, created_at DESC, id DESC) INCLUDE (next_retry)
    WHERE status <> 'completed';
CREATE INDEX ix_document_processing_queue_live
    ON document_processing_queue (status, created_at DESC, id DESC) INCLUDE (next_retry)
    WHERE status <> 'completed';

-- newest: the unfiltered job list and its keyset pages ((created_at, id) < cursor).
CREATE INDEX ix_sync_queue_newest ON sync_queue (created_at DESC, id DESC);
CREATE INDEX ix_document_processing_queue_newest
    ON document_processing_queue (created_at DESC, id DESC);

-- ended: throughput (per minute over the last hour) and the recent failures, read
-- index-only; the status rides along so completed and failed are told apart.
CREATE INDEX ix_sync_queue_ended
    ON sync_queue (completed_at) INCLUDE (status)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX ix_document_processing_queue_ended
    ON document_processing_queue (completed_at) INCLUDE (status)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- `syncd jobs sync --entity ID` names the id without its type.
CREATE INDEX ix_sync_queue_entity_id ON sync_queue (entity_id, created_at DESC);

-- Who did what to which jobs from the console or the CLI (SPEC §10).
CREATE TABLE syncd_audit (
    id      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    queue   text,
    job_ids uuid[]      NOT NULL DEFAULT '{}',
    detail  jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_syncd_audit_at ON syncd_audit (at DESC);
