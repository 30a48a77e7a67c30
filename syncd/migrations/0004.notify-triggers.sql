-- depends: 0002.document-processing-queue 0003.sync-queue
-- Wake syncd when work arrives. An INSERT notifies once per statement, so a bulk
-- insert of 10,000 rows wakes the daemon once. An UPDATE that makes a row pending
-- (a retry, a release, an operator's `syncd retry`) notifies from a row trigger
-- filtered by WHEN, so completions cost nothing; PostgreSQL folds identical
-- notifications within a transaction into one.
CREATE FUNCTION syncd_notify_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_queue_notify_insert
    AFTER INSERT ON sync_queue
    FOR EACH STATEMENT EXECUTE FUNCTION syncd_notify_queue('syncd_sync_queue');
CREATE TRIGGER sync_queue_notify_pending
    AFTER UPDATE OF status ON sync_queue
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
    EXECUTE FUNCTION syncd_notify_queue('syncd_sync_queue');

CREATE TRIGGER document_processing_queue_notify_insert
    AFTER INSERT ON document_processing_queue
    FOR EACH STATEMENT EXECUTE FUNCTION syncd_notify_queue('syncd_document_queue');
CREATE TRIGGER document_processing_queue_notify_pending
    AFTER UPDATE OF status ON document_processing_queue
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
    EXECUTE FUNCTION syncd_notify_queue('syncd_document_queue');
