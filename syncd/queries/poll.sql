-- The daemon's one periodic look at the database, run on its listener connection
-- so that it doubles as that connection's health check. In one round trip: is
-- anything due in each queue, when does the next retry fall due, how old is the
-- oldest heartbeat among workers holding a running job (past `rescue_after`,
-- their jobs are taken back), and how many running jobs the database says are
-- this worker's ($1): more than it holds means some were forgotten (see
-- rescue_forgotten.sql). A holder with no syncd_workers row counts as heard from
-- at the epoch: long stale, and unlike '-infinity' a value the driver can compare
-- with now. It also brings the pauses in force (as pauses_in_force.sql reads them):
-- the backstop for a daemon that missed their NOTIFY or runs with LISTEN off. A
-- queue is due only for jobs of kinds not paused, or a kind's pause would have the
-- daemon claim (and come back empty) at every look.
WITH held AS (
    SELECT worker_id FROM sync_queue WHERE status = 'processing'
    UNION ALL
    SELECT worker_id FROM document_processing_queue WHERE status = 'processing'
)
SELECT EXISTS (SELECT 1 FROM sync_queue q
                WHERE status = 'pending' AND (next_retry IS NULL OR next_retry <= now())
                  AND NOT EXISTS (SELECT 1 FROM syncd_pauses p
                                   WHERE p.queue = 'sync' AND p.kind = q.entity_type))
           AS sync_due,
       (SELECT min(next_retry) FROM sync_queue
         WHERE status = 'pending' AND next_retry > now()) AS sync_next_due,
       EXISTS (SELECT 1 FROM document_processing_queue q
                WHERE status = 'pending' AND (next_retry IS NULL OR next_retry <= now())
                  AND NOT EXISTS (SELECT 1 FROM syncd_pauses p
                                   WHERE p.queue = 'documents' AND p.kind = q.operation))
           AS documents_due,
       (SELECT min(next_retry) FROM document_processing_queue
         WHERE status = 'pending' AND next_retry > now()) AS documents_next_due,
       (SELECT min(coalesce(w.heartbeat_at, 'epoch'))
          FROM (SELECT DISTINCT worker_id FROM held) h
          LEFT JOIN syncd_workers w ON w.id = h.worker_id) AS oldest_heartbeat,
       (SELECT count(*) FROM held WHERE worker_id = $1) AS mine,
       (SELECT coalesce(jsonb_object_agg(queue, kinds), '{}')
          FROM (SELECT queue, jsonb_agg(kind ORDER BY kind) AS kinds
                  FROM syncd_pauses GROUP BY queue) p) AS paused,
       now() AS db_now
