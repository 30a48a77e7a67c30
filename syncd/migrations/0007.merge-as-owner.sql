-- depends: 0006.workers
-- The merge trigger runs as the owner of the queue (SECURITY DEFINER), so an
-- application's role needs nothing but INSERT to enqueue: the merge into an entity's
-- pending job is done with the owner's rights, and only that merge, for the entity the
-- inserted row names. Before, the trigger ran with the inserting role's rights and
-- that role needed SELECT and UPDATE on columns of every row of sync_queue.
--
-- A function that runs with its owner's rights must not let another role choose what
-- it runs. Its search_path is pinned to pg_catalog, then pg_temp: pg_temp is never
-- searched for functions or operators, and listed last it cannot put a table or type
-- in front of one of pg_catalog's; every table is named with the schema sync_queue
-- lives in (the one the migrations ran in, which a database URL may set). Pinning the
-- path to that schema instead would not do: a role that may create in it (every role,
-- in the schema public, before PostgreSQL 15) could add an operator such as
-- `= (varchar, varchar)`, which pg_catalog lacks (it compares varchar as text), and
-- the merge's comparisons of its varchar columns with literals, the ON CONFLICT
-- clause's `status = 'pending'` included, would pick it as the exact match and run
-- that role's function as the owner. So the function 0003 made is replaced, with the
-- same body but for the schema-qualified table, and the same trigger keeps firing it.
-- EXECUTE is revoked from PUBLIC: a trigger fires its function whatever the EXECUTE
-- grants say, and a trigger function cannot be called directly anyway, but no role
-- needs the grant.
DO $migration$
DECLARE
    home regnamespace := (SELECT relnamespace FROM pg_class WHERE oid = 'sync_queue'::regclass);
BEGIN
    EXECUTE format($function$
CREATE OR REPLACE FUNCTION %1$s.sync_queue_merge_pending() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    IF NEW.status <> 'pending' OR current_setting('syncd.merging', true) = 'on' THEN
        RETURN NEW;
    END IF;
    PERFORM set_config('syncd.merging', 'on', true);
    INSERT INTO %1$s.sync_queue VALUES (NEW.*)
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
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s.sync_queue_merge_pending() FROM PUBLIC', home);
END
$migration$;
