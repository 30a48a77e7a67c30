-- Running jobs whose worker has no syncd_workers row (or none at all): the next
-- poll of any live daemon takes them back.
SELECT (SELECT count(*) FROM sync_queue q
         WHERE q.status = 'processing'
           AND NOT EXISTS (SELECT 1 FROM syncd_workers w WHERE w.id = q.worker_id))
     + (SELECT count(*) FROM document_processing_queue q
         WHERE q.status = 'processing'
           AND NOT EXISTS (SELECT 1 FROM syncd_workers w WHERE w.id = q.worker_id))
