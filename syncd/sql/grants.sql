-- The privileges of syncd's two login roles (README: "Database roles and privileges").
--
-- Run after `syncd migrate`, and again after every upgrade (GRANT is idempotent), as a
-- superuser or as the owners of the tables:
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v runtime=syncd -v app=crm -f "$(python -c 'import syncd.migrate as m; print(m.grants_file())')"
--
--   runtime  the role `syncd run` and the operator commands (status, retry, cancel,
--            purge, enqueue) log in as
--   app      the host application's role, which enqueues jobs with plain INSERTs
--
-- Neither role needs to own anything, create anything, or be a superuser. LISTEN and
-- NOTIFY need no privilege. There are no sequences: every id is a uuid. USAGE on the
-- schema public is every role's by default.

-- == runtime: syncd's own tables (owned by the role that runs `syncd migrate`) ======

-- Claim, record outcomes, rescue, retry, cancel, enqueue; DELETE for retention and
-- for forgetting stopped workers and archived items.
GRANT SELECT, INSERT, UPDATE, DELETE
   ON sync_queue, document_processing_queue, syncd_workers, monday_items
   TO :"runtime";
-- Upserts only: nothing in syncd deletes from these (monday_reconcile_runs: the last
-- reconcile's counts, for `syncd status`).
GRANT SELECT, INSERT, UPDATE ON document_extractions, monday_reconcile_runs TO :"runtime";
-- A limit hit writes a pause; `syncd monday resume` deletes it.
GRANT SELECT, INSERT, UPDATE, DELETE ON monday_pauses TO :"runtime";
-- Each daemon upserts its view of monday's budgets; the console and `status` read it.
GRANT SELECT, INSERT, UPDATE ON monday_budgets TO :"runtime";
-- `syncd pause` adds a row, `syncd resume` deletes it; every daemon reads them.
GRANT SELECT, INSERT, DELETE ON syncd_pauses TO :"runtime";
-- The console's and the bulk commands' audit trail: written once, never changed.
GRANT SELECT, INSERT ON syncd_audit TO :"runtime";
-- `syncd run` and `syncd doctor` check that the schema is current.
GRANT SELECT ON syncd_migrations TO :"runtime";
-- The webhooks `syncd monday webhooks install` made, forgotten by `remove`.
GRANT SELECT, INSERT, DELETE ON monday_webhooks TO :"runtime";
-- The attempt history's append (migration 0016), in the outcome and rescue statements.
-- EXECUTE is every role's by default; this keeps syncd working where it was revoked.
GRANT EXECUTE ON FUNCTION syncd_append_attempt(jsonb, jsonb) TO :"runtime";

-- == runtime: the host application's tables (run this part as their owner) =========

-- The documents handler reads where each file is and what it claims to be.
GRANT SELECT (id, filename, content_type, storage_path, size_bytes) ON documents TO :"runtime";

-- One pair per [monday.entities.*] mapping; here the README's contact mapping and an
-- organization mapping (item_name "{name}"; columns website, industry, country).
-- SELECT on the fields the mapping reads: id_field, the item_name template's fields,
-- the columns, updated_at_field, match. UPDATE only on the fields a to_npd pull writes
-- back: the columns of direction "to_npd" or "both" (the contact's title is "to_monday"),
-- and deleted_field when on_item_deleted = "mark".
GRANT SELECT (id, first_name, last_name, email, phone, title, updated_at) ON contacts
   TO :"runtime";
GRANT UPDATE (email, phone) ON contacts TO :"runtime";
GRANT SELECT (id, name, website, industry, country) ON organizations TO :"runtime";
GRANT UPDATE (website, industry, country) ON organizations TO :"runtime";

-- == app: enqueue ==================================================================

-- INSERT and nothing else. The sync queue's merge trigger runs as the queue's owner
-- (SECURITY DEFINER, syncd/migrations/0007), so a second change for an entity merges into its
-- pending job without the application being able to read, change or delete any job.
-- Without SELECT, `INSERT ... RETURNING` is refused; a pending sync job returns no row
-- from it anyway (the trigger inserts or merges it itself).
--
-- INSERT of the columns that say what to do and when, not of those that record what
-- happened: a new job is pending with no attempts, and only syncd writes status,
-- attempts, error_message, last_attempt, started_at, completed_at, worker_id and
-- attempts_log. So the application cannot insert a job as processing, completed or
-- failed, with an error_message, or as a running job of some worker. It may choose the
-- job's id (to find it in logs), its priority, its max_attempts and its first run
-- (next_retry: later, for a delayed job). created_at is left to its default.
--
-- Before this file limited the columns it granted INSERT on the whole tables, and
-- before migration 0007 it gave the application SELECT and UPDATE on columns of
-- sync_queue for the merge and SELECT (id) for RETURNING id. Running it again after an
-- upgrade takes all of that back first: revoking a table privilege revokes it on
-- every column too, so the column GRANTs that follow are the whole of it.
REVOKE INSERT, SELECT, UPDATE ON sync_queue, document_processing_queue FROM :"app";
GRANT INSERT (id, entity_type, entity_id, direction, operation, priority, payload,
              max_attempts, next_retry)
   ON sync_queue TO :"app";
GRANT INSERT (id, document_id, operation, priority, max_attempts, next_retry)
   ON document_processing_queue TO :"app";
