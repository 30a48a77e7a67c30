-- The monday budgets the daemons last reported (monday_budget_report.sql), for the
-- console and `syncd status`: one row per token and budget, a handful in all, so a
-- plain scan. The complexity budget comes first. How long until the reset and how
-- old the report is are computed by the database, the clock the reports were
-- written on. A reset in the past (resets_in_s <= 0) means the budget has refilled
-- since the report; only a prefix of the token's SHA-256 is shown.
SELECT left(token_id, 12) AS token,
       budget,
       remaining,
       budget_limit,
       resets_at,
       extract(epoch FROM resets_at - now())::float8 AS resets_in_s,
       updated_at,
       extract(epoch FROM now() - updated_at)::float8 AS age_s,
       reported_by
  FROM monday_budgets
 ORDER BY token_id, budget <> 'complexity', budget
