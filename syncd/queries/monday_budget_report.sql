-- One process's report of its pacer's monday budgets (handlers/monday/budgets.py),
-- every budget that changed in one statement: $1 the token's SHA-256 (never the
-- token), $2 who reports (host:pid), then one array element per budget. $6 is the
-- seconds until the window resets (NULL: not known yet); the reset and the report's
-- time are placed on the database's clock, as the pauses' are, so that readers on
-- any host agree on "resets in" and "reported ... ago".
-- Daemons on one token share the rows: the newest report wins. Each is what its
-- daemon's latest answer from monday said, and an idle daemon does not write.
INSERT INTO monday_budgets AS b
       (token_id, budget, remaining, budget_limit, resets_at, reported_by)
SELECT $1, r.budget, r.remaining, r.budget_limit, now() + make_interval(secs => r.resets_in), $2
  FROM unnest($3::text[], $4::float8[], $5::float8[], $6::float8[])
       AS r (budget, remaining, budget_limit, resets_in)
ON CONFLICT (token_id, budget) DO UPDATE
   SET remaining = EXCLUDED.remaining,
       budget_limit = EXCLUDED.budget_limit,
       resets_at = EXCLUDED.resets_at,
       reported_by = EXCLUDED.reported_by,
       updated_at = now()
