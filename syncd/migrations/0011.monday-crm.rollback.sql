DROP TABLE monday_reconcile_runs;
DROP TABLE monday_webhooks;
ALTER TABLE monday_items DROP COLUMN pushed_values;
