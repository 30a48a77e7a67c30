-- depends: 0008.attempts-log
-- Retention measures a finished job's age from completed_at. syncd stamps it on every
-- way it finishes a job, but an application may finish one itself, most often with
-- its own `UPDATE ... SET status = 'cancelled'`, and such a row had no completed_at
-- and was kept forever. This trigger stamps the time a row becomes completed,
-- cancelled or failed when the statement did not, so retention can stay a range scan
-- of the partial index on completed_at (0006) instead of computing an age per row.
-- It fires only when WHEN holds: syncd's own writes, which set completed_at, skip it.
-- Rows finished before this migration get the best time they hold: the last attempt,
-- else their creation.
CREATE FUNCTION syncd_stamp_completed_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.completed_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER sync_queue_stamp_completed_at
    BEFORE INSERT OR UPDATE ON sync_queue
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'cancelled', 'failed') AND NEW.completed_at IS NULL)
    EXECUTE FUNCTION syncd_stamp_completed_at();
CREATE TRIGGER document_processing_queue_stamp_completed_at
    BEFORE INSERT OR UPDATE ON document_processing_queue
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'cancelled', 'failed') AND NEW.completed_at IS NULL)
    EXECUTE FUNCTION syncd_stamp_completed_at();

UPDATE sync_queue
   SET completed_at = coalesce(last_attempt, created_at)
 WHERE status IN ('completed', 'cancelled', 'failed') AND completed_at IS NULL;
UPDATE document_processing_queue
   SET completed_at = coalesce(last_attempt, created_at)
 WHERE status IN ('completed', 'cancelled', 'failed') AND completed_at IS NULL;
