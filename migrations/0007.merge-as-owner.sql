-- depends: 0006.workers
-- The merge trigger runs as the owner of the queue (SECURITY DEFINER), so an
-- application's role needs nothing but INSERT to enqueue: the merge into an entity's
-- pending job is done with the owner's rights, and only that merge, for the entity the
-- inserted row names. Before, the trigger ran with the inserting role's rights and
-- that role needed SELECT and UPDATE on columns of every row of sync_queue.
--
-- As PostgreSQL's manual advises for SECURITY DEFINER functions, search_path is pinned
-- to the schema sync_queue lives in (the one the migrations ran in, which a database
-- URL may set), then pg_temp last, so no role can slip in a table, function or
-- operator of its own; pg_catalog is still searched first. EXECUTE is revoked from
-- PUBLIC: a trigger fires its function whatever the EXECUTE grants say, and a trigger
-- function cannot be called directly anyway, but no role needs the grant.
DO $$
DECLARE
    home regnamespace := (SELECT relnamespace FROM pg_class WHERE oid = 'sync_queue'::regclass);
BEGIN
    EXECUTE format(
        'ALTER FUNCTION %1$s.sync_queue_merge_pending() '
        'SECURITY DEFINER SET search_path = %1$s, pg_temp',
        home
    );
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s.sync_queue_merge_pending() FROM PUBLIC', home);
END
$$;
