-- The same INSERT an application makes, for many entities in one statement (a
-- backfill's or a reconcile's plan): the merge trigger folds each into the entity's
-- pending job, and the NOTIFY trigger wakes the daemons once.
INSERT INTO sync_queue (entity_type, entity_id, direction, operation, priority)
SELECT $1, entity_id, $3, 'upsert', $4
FROM unnest($2::uuid[]) AS entity_id
