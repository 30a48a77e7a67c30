-- What the console polls each second to notice jobs that started or ended (the
-- queues' triggers NOTIFY only on insert and on becoming pending). Both halves read
-- the first entry of an index (ix_<queue>_ended backwards, ix_<queue>_live's few
-- running rows), so the poll costs the same at any queue size.
SELECT (SELECT max(completed_at) FROM {table}
         WHERE status IN ('completed', 'failed', 'cancelled')) AS last_ended,
       (SELECT count(*) FROM {table} WHERE status = 'processing') AS running
