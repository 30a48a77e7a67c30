-- The counts of an entity type's last reconcile, for `syncd status`: one row per
-- entity type, overwritten by each run.
INSERT INTO monday_reconcile_runs
    (entity_type, board_id, started_at, checked, drifted, enqueued, dry_run)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (entity_type) DO UPDATE
SET board_id = EXCLUDED.board_id,
    started_at = EXCLUDED.started_at,
    finished_at = now(),
    checked = EXCLUDED.checked,
    drifted = EXCLUDED.drifted,
    enqueued = EXCLUDED.enqueued,
    dry_run = EXCLUDED.dry_run
