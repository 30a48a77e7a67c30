-- Jobs of either queue that have not reached a final state yet.
SELECT (SELECT count(*) FROM sync_queue WHERE status IN ('pending', 'processing'))
     + (SELECT count(*) FROM document_processing_queue WHERE status IN ('pending', 'processing'));
