-- The last reconcile of each entity type (a handful of rows), for `syncd status`.
SELECT entity_type, board_id, started_at, finished_at, checked, drifted, enqueued, dry_run
FROM monday_reconcile_runs
ORDER BY entity_type
