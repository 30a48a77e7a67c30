-- depends: 0007.merge-as-owner
-- Every attempt's outcome, kept on its job row (SPEC §9), as Oban and River keep
-- `errors[]`: an array, newest last, at most 25 entries, each
-- {attempt, at, outcome, error, duration_ms, worker}. The outcome writer appends to
-- it in the same statement that writes the outcome, so the success path pays no
-- extra round trip. A constant default: existing rows get '[]' without a rewrite,
-- and an application's INSERT naming only the documented columns keeps working.
ALTER TABLE sync_queue ADD COLUMN attempts_log jsonb NOT NULL DEFAULT '[]';
ALTER TABLE document_processing_queue ADD COLUMN attempts_log jsonb NOT NULL DEFAULT '[]';
