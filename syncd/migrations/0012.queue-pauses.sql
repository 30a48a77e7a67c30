-- depends: 0011.monday-crm
-- Pause and resume (SPEC §9): an operator stops new claims on a queue, or on one kind
-- of its jobs (entity type for sync, operation for documents), in every daemon. The
-- state is a row here, so it survives restarts and every daemon reads the same.
-- kind '*' is the whole queue. Rows are few (one per pause in force), so every daemon
-- re-reads the whole table whenever it changes.
CREATE TABLE syncd_pauses (
    queue     text        NOT NULL,
    kind      text        NOT NULL DEFAULT '*',
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text        NOT NULL,
    reason    text,
    PRIMARY KEY (queue, kind),
    CHECK (kind <> '')
);

-- Every change is announced in the same transaction, once per statement, on a
-- channel every daemon LISTENs to (syncd_notify_queue is 0004's: it notifies on its
-- argument). The poll re-reads the table too, for daemons with LISTEN off.
CREATE TRIGGER syncd_pauses_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON syncd_pauses
    FOR EACH STATEMENT EXECUTE FUNCTION syncd_notify_queue('syncd_pauses');
