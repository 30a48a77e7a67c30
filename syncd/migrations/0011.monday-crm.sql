-- depends: 0008.attempts-log
-- monday.com for a real CRM (SPEC §11).
--
-- pushed_values: the column values (and item name) of syncd's last push of each item,
-- beside their hash. A monday webhook carries one column's new value; comparing it
-- with what syncd itself wrote there is how an echo of syncd's own push is told
-- apart from a person's edit. NULL for links recorded before this migration: their
-- events are then compared with the row instead.
ALTER TABLE monday_items ADD COLUMN pushed_values jsonb;

-- The webhooks `syncd monday webhooks install` created: monday's webhooks query does
-- not say where a webhook points, so `remove` deletes these and only these.
CREATE TABLE monday_webhooks (
    webhook_id bigint      PRIMARY KEY,
    board_id   bigint      NOT NULL,
    event      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The last reconcile of each entity type, for `syncd status`: one row each,
-- overwritten by the next run.
CREATE TABLE monday_reconcile_runs (
    entity_type varchar(50) PRIMARY KEY,
    board_id    bigint      NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    checked     integer     NOT NULL,
    drifted     integer     NOT NULL,
    enqueued    integer     NOT NULL,
    dry_run     boolean     NOT NULL DEFAULT false
);
