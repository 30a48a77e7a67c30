-- depends: 0014.steady-drain
-- (0015 is another branch's; the two touch nothing of each other's and apply in
-- either order.)
-- One attempt's entry on a job's history (attempts_log, SPEC §9): newest last, at
-- most the newest 25. The outcome writer and both rescues append to it; the rule was
-- written out in each of their statements, and is said here once.
--
-- Appending one entry at a time and dropping the oldest once there are 25 keeps the
-- array at 25 without unpacking it.
--
-- Shaped for PostgreSQL to inline it into the statements that call it, so it costs
-- what the expression written out in them cost (the outcome writer is the hot path):
-- LANGUAGE sql with a single SELECT of one expression; IMMUTABLE, which it truly is
-- (its result depends on its arguments alone: the entry's `now()` is the caller's,
-- evaluated in the calling statement); not STRICT (a strict function inlines only if
-- its body is strict, and CASE is not); no SET clause and not SECURITY DEFINER (either
-- stops inlining). Without a pinned search_path its operators and its one function
-- are found as the calling statement finds its own: each has an exact match in
-- pg_catalog, which is searched first, so no lookalike of another role's is picked.
-- It runs with the caller's rights. EXECUTE is PUBLIC's by default; grants.sql grants
-- it to syncd's runtime role all the same, for databases that revoke that default
-- (the planner does not inline a function the caller may not execute).
CREATE FUNCTION syncd_append_attempt(attempts_log jsonb, entry jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_array_length(attempts_log) >= 25 THEN attempts_log - 0
                ELSE attempts_log END
           || entry
$$;
