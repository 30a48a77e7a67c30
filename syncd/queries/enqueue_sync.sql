-- The same INSERT an application makes. The merge trigger folds it into the
-- entity's pending job if there is one (see migrations/0003.sync-queue.sql).
INSERT INTO sync_queue (entity_type, entity_id, direction, operation, priority, payload)
VALUES ($1, $2, $3, $4, $5, $6)
