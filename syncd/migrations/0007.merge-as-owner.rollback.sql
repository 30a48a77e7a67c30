-- Back to the function 0003 made, exactly: it runs with the inserting role's rights
-- (SECURITY INVOKER), with that role's search_path (none of its own), and every role
-- may EXECUTE it. The trigger is the same and keeps firing it.
--
-- After this rollback the application's role needs again, on top of INSERT, the
-- grants sql/grants.sql gave it before 0007, as the merge then runs with its rights:
--
--   GRANT SELECT (entity_type, entity_id, direction, status, operation, priority, payload),
--         UPDATE (operation, priority, next_retry, payload)
--      ON sync_queue TO app;
--   GRANT SELECT (id) ON sync_queue, document_processing_queue TO app;  -- RETURNING id
--
-- The current sql/grants.sql no longer gives them (running it revokes them): grant
-- them by hand, or every INSERT of a pending sync job by the application is refused,
-- the first for an entity too (INSERT ... ON CONFLICT DO UPDATE needs them whether or
-- not it merges).
DO $migration$
DECLARE
    home regnamespace := (SELECT relnamespace FROM pg_class WHERE oid = 'sync_queue'::regclass);
BEGIN
    EXECUTE format($function$
CREATE OR REPLACE FUNCTION %1$s.sync_queue_merge_pending() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $body$
BEGIN
    IF NEW.status <> 'pending' OR current_setting('syncd.merging', true) = 'on' THEN
        RETURN NEW;
    END IF;
    PERFORM set_config('syncd.merging', 'on', true);
    INSERT INTO sync_queue VALUES (NEW.*)
        ON CONFLICT (entity_type, entity_id, direction) WHERE status = 'pending'
        DO UPDATE SET
            operation  = CASE WHEN sync_queue.operation = 'delete' OR EXCLUDED.operation = 'delete'
                              THEN 'delete' ELSE EXCLUDED.operation END,
            priority   = greatest(sync_queue.priority, EXCLUDED.priority),
            next_retry = NULL,
            payload    = EXCLUDED.payload;
    PERFORM set_config('syncd.merging', 'off', true);
    RETURN NULL;
END
$body$
$function$, home);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s.sync_queue_merge_pending() TO PUBLIC', home);
END
$migration$;
