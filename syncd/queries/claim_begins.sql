-- How every claim begins (claim_sync.sql, claim_documents.sql; queries/__init__.py
-- puts it in). The claim refreshes the worker's heartbeat in its own transaction,
-- so a rescuer never mistakes a fresh claim for a dead one.
--
-- And the claim commits without waiting for its WAL to reach the disk
-- (synchronous_commit off for this one transaction: set_config's `true`): the
-- flush is a third of a quick job's pickup (bench/compare.py, README "Benchmarks").
-- What that can cost: if PostgreSQL itself crashes within a fraction of a second
-- of a claim, recovery undoes the claim and the job runs again, as it would had
-- this worker died mid-job (at least once, as ever). It cannot cost more: every
-- outcome write waits for its flush, and the WAL is flushed in order, so a claim
-- is on disk before any outcome of its jobs is.
worker AS (
    UPDATE syncd_workers SET heartbeat_at = now() WHERE id = $1
),
quick AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true)
)
