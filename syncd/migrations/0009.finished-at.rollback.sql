-- The completed_at values stamped stay: they are true, and 0008 and earlier read them.
DROP TRIGGER document_processing_queue_stamp_completed_at ON document_processing_queue;
DROP TRIGGER sync_queue_stamp_completed_at ON sync_queue;
DROP FUNCTION syncd_stamp_completed_at();
