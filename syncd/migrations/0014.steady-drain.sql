-- depends: 0010.console 0011.monday-crm
-- (0013 was reserved for a branch that needed no migration: the numbers skip it.)
-- A drain that keeps its pace (bench/backlog.py; README "A steady drain").
--
-- A job's claim and its outcome are two UPDATEs that change status, a column of
-- every partial index's predicate, so neither is HOT: each adds an entry to every
-- index the new row version belongs to and leaves the old one dead until a vacuum.
-- Fewer indexes mean fewer entries written per job and a shorter vacuum, and a
-- vacuum that ends sooner leaves the claim fewer dead entries to step over at the
-- head of ix_sync_queue_pending_retry. Two of sync_queue's indexes are covered by
-- others:
--   ix_sync_queue_entity (entity_type, entity_id): the pending and processing
--     lookups use their partial unique indexes, an entity's job list uses
--     ix_sync_queue_entity_id (entity ids are UUIDs: the type only filters);
--   ix_sync_queue_finished (completed_at) WHERE completed or cancelled: retention's
--     range scan and purge's count use ix_sync_queue_ended, the same key over the
--     same rows and the failed ones, with the status inside it.
DROP INDEX ix_sync_queue_entity;
DROP INDEX ix_sync_queue_finished;
DROP INDEX ix_document_processing_queue_finished;

-- Vacuum after a fixed number of dead rows, not after 1 % of the table: on a
-- queue of ten million rows 1 % is 100,000 dead entries for every claim to walk.
ALTER TABLE sync_queue SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000
);
ALTER TABLE document_processing_queue SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000
);
