-- The daemons registered in syncd_workers for `syncd status`: where each runs, how
-- long ago it was last heard from (a worker heartbeats only while it holds jobs,
-- and every claim counts as one), and how many running jobs it holds. A worker
-- that stopped cleanly has removed its row; a dead one's row stays until its jobs
-- are rescued and retention forgets it.
SELECT w.id,
       w.hostname,
       w.pid,
       w.started_at,
       extract(epoch FROM now() - w.started_at)::float8 AS up_s,
       extract(epoch FROM now() - w.heartbeat_at)::float8 AS heard_from_s,
       (SELECT count(*) FROM sync_queue q
         WHERE q.status = 'processing' AND q.worker_id = w.id)
     + (SELECT count(*) FROM document_processing_queue q
         WHERE q.status = 'processing' AND q.worker_id = w.id) AS holding
  FROM syncd_workers w
 ORDER BY w.started_at, w.id
