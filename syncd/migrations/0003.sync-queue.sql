-- depends: 0001.host-tables
CREATE TABLE sync_queue (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    entity_type   varchar(50) NOT NULL,
    entity_id     uuid        NOT NULL,
    direction     varchar(10) NOT NULL DEFAULT 'to_monday',
    operation     varchar(20) NOT NULL DEFAULT 'upsert',
    payload       jsonb       NOT NULL DEFAULT '{}',
    status        varchar(20) NOT NULL DEFAULT 'pending',
    priority      integer     NOT NULL DEFAULT 0,
    attempts      integer     NOT NULL DEFAULT 0,
    max_attempts  integer     NOT NULL DEFAULT 5,
    last_attempt  timestamptz,
    next_retry    timestamptz,
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz,
    CONSTRAINT sync_queue_pkey PRIMARY KEY (id),
    CONSTRAINT ck_sync_queue_status
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    CONSTRAINT ck_sync_queue_direction CHECK (direction IN ('to_monday', 'to_npd')),
    CONSTRAINT ck_sync_queue_operation CHECK (operation IN ('upsert', 'delete'))
)
-- Rows are updated several times each: room for HOT updates, and early vacuums.
WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

CREATE INDEX ix_sync_queue_entity ON sync_queue (entity_type, entity_id);
-- When the next retry falls due: only rows waiting out a backoff are in it.
CREATE INDEX ix_sync_queue_next_retry ON sync_queue (next_retry)
    WHERE status = 'pending' AND next_retry IS NOT NULL;
-- The claim path: due pending jobs in run order.
CREATE INDEX ix_sync_queue_pending_retry
    ON sync_queue (priority DESC, created_at, id)
    WHERE status = 'pending';
-- One pending job per entity and direction: a second change merges into it.
CREATE UNIQUE INDEX ux_sync_queue_one_pending
    ON sync_queue (entity_type, entity_id, direction)
    WHERE status = 'pending';

-- A plain INSERT of a change for an entity that already has a pending job merges
-- into that job instead of failing on ux_sync_queue_one_pending. The trigger
-- re-issues the row as INSERT ... ON CONFLICT, which PostgreSQL makes safe under
-- concurrent inserts (the second waits for the first to commit, then merges)
-- without taking a lock per row, so bulk inserts of any size work. The outer INSERT
-- is then skipped: an INSERT of a pending job returns no row from RETURNING (look
-- the job up by entity; see syncd/queries/find_pending_sync.sql). A transaction-
-- local setting marks the re-issued row, so the trigger lets it through even when
-- the application's INSERT itself runs inside a trigger.
CREATE FUNCTION sync_queue_merge_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'pending' OR current_setting('syncd.merging', true) = 'on' THEN
        RETURN NEW;
    END IF;
    PERFORM set_config('syncd.merging', 'on', true);
    INSERT INTO sync_queue VALUES (NEW.*)
        ON CONFLICT (entity_type, entity_id, direction) WHERE status = 'pending'
        DO UPDATE SET
            operation  = CASE WHEN sync_queue.operation = 'delete' OR EXCLUDED.operation = 'delete'
                              THEN 'delete' ELSE EXCLUDED.operation END,
            priority   = greatest(sync_queue.priority, EXCLUDED.priority),
            next_retry = NULL,
            payload    = EXCLUDED.payload;
    PERFORM set_config('syncd.merging', 'off', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_queue_merge_pending
    BEFORE INSERT ON sync_queue
    FOR EACH ROW EXECUTE FUNCTION sync_queue_merge_pending();
