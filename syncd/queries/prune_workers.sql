-- Forget workers that have not been heard from in $1 seconds and hold no job.
DELETE FROM syncd_workers w
 WHERE w.heartbeat_at < now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM sync_queue q WHERE q.status = 'processing' AND q.worker_id = w.id)
   AND NOT EXISTS (SELECT 1 FROM document_processing_queue q
                    WHERE q.status = 'processing' AND q.worker_id = w.id)
