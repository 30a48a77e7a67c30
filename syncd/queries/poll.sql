-- The daemon's one periodic look at the database, run on its listener connection
-- so that it doubles as that connection's health check. In one round trip: is
-- anything due in each queue, when does the next retry fall due, how old is the
-- oldest heartbeat among workers holding a running job (past `rescue_after`,
-- their jobs are taken back), and how many running jobs the database says are
-- this worker's ($1): more than it holds means some were forgotten (see
-- rescue_forgotten.sql). A holder with no syncd_workers row counts as heard from
-- at the epoch: long stale, and unlike '-infinity' a value the driver can compare
-- with now.
WITH held AS (
    SELECT worker_id FROM sync_queue WHERE status = 'processing'
    UNION ALL
    SELECT worker_id FROM document_processing_queue WHERE status = 'processing'
)
SELECT EXISTS (SELECT 1 FROM sync_queue
                WHERE status = 'pending' AND (next_retry IS NULL OR next_retry <= now()))
           AS sync_due,
       (SELECT min(next_retry) FROM sync_queue
         WHERE status = 'pending' AND next_retry > now()) AS sync_next_due,
       EXISTS (SELECT 1 FROM document_processing_queue
                WHERE status = 'pending' AND (next_retry IS NULL OR next_retry <= now()))
           AS documents_due,
       (SELECT min(next_retry) FROM document_processing_queue
         WHERE status = 'pending' AND next_retry > now()) AS documents_next_due,
       (SELECT min(coalesce(w.heartbeat_at, 'epoch'))
          FROM (SELECT DISTINCT worker_id FROM held) h
          LEFT JOIN syncd_workers w ON w.id = h.worker_id) AS oldest_heartbeat,
       (SELECT count(*) FROM held WHERE worker_id = $1) AS mine,
       now() AS db_now
