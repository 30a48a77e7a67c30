-- depends: 0014.steady-drain
-- monday's budgets as the daemons last saw them, for the console and `syncd status`
-- (SPEC §10: "the monday budget"). Each daemon's pacer learns them from monday's
-- answers, but only in its own memory; the console is a process of its own and
-- reads the database. So every process with a pool reports its pacer's view here
-- (handlers/monday/budgets.py): every few seconds, and only when it changed.
--
-- One row per token and budget ('complexity', and what monday's RateLimit headers
-- name: requests per minute, per day): a handful of rows, read whole. Daemons on
-- one token write the same rows; the newest report wins. The token is stored only
-- as its SHA-256, as in monday_pauses.
--
-- remaining NULL: the window reset and the level is not known until the next
-- answer. resets_at NULL: when the window resets is not known yet (monday opens a
-- per-minute window with the first call after the last one ended). A resets_at in
-- the past means the window the report saw is over: the budget has refilled since,
-- whatever remaining says.
CREATE TABLE monday_budgets (
    token_id     text             NOT NULL,
    budget       text             NOT NULL,
    remaining    double precision,
    budget_limit double precision,
    resets_at    timestamptz,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    reported_by  text             NOT NULL,
    PRIMARY KEY (token_id, budget)
);
