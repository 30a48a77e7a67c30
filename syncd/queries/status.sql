-- One queue's health for `syncd status`, the metrics and the console, without a scan
-- of the queue: on ten million rows it reads only indexes (migration 0010).
-- Non-completed statuses are exact counts over ix_<queue>_live, a partial index of
-- the few rows that are not completed. Completed rows are the bulk of a queue, so
-- they are counted exactly only up to 10,000 (over ix_<queue>_ended); past that the
-- planner's row estimate (pg_class.reltuples, kept by autovacuum/ANALYZE) minus the
-- exact counts stands in, and completed_estimated says so. Recent throughput reads
-- ix_<queue>_ended index-only: it holds completed_at and the status.
WITH live AS (
    SELECT count(*) FILTER (WHERE status = 'pending')    AS pending,
           count(*) FILTER (WHERE status = 'processing') AS processing,
           count(*) FILTER (WHERE status = 'failed')     AS failed,
           count(*) FILTER (WHERE status = 'cancelled')  AS cancelled,
           count(*) FILTER (WHERE status = 'pending'
                              AND (next_retry IS NULL OR next_retry <= now())) AS due,
           min(coalesce(next_retry, created_at))
               FILTER (WHERE status = 'pending'
                         AND (next_retry IS NULL OR next_retry <= now())) AS oldest_due,
           min(next_retry) FILTER (WHERE status = 'pending' AND next_retry > now())
               AS next_retry
      FROM {table}
     WHERE status IN ('pending', 'processing', 'failed', 'cancelled')
),
completed_bounded AS (
    SELECT count(*) AS n
      FROM (SELECT 1 FROM {table} WHERE status = 'completed' LIMIT 10000) c
),
ended AS (
    SELECT count(*) FILTER (WHERE status = 'completed'
                              AND completed_at > now() - interval '1 minute')
               AS completed_last_minute,
           count(*) FILTER (WHERE status = 'completed') AS completed_last_hour,
           count(*) FILTER (WHERE status = 'failed') AS failed_last_hour
      FROM {table}
     WHERE status IN ('completed', 'failed', 'cancelled')
       AND completed_at > now() - interval '1 hour'
),
estimate AS (
    SELECT greatest(c.reltuples, 0)::bigint AS rows FROM pg_class c
     WHERE c.oid = '{table}'::regclass
)
SELECT live.pending, live.processing,
       CASE WHEN completed_bounded.n < 10000 THEN completed_bounded.n
            ELSE greatest(completed_bounded.n, estimate.rows - live.pending - live.processing
                                               - live.failed - live.cancelled)
       END AS completed,
       completed_bounded.n >= 10000 AS completed_estimated,
       live.failed, live.cancelled, live.due,
       extract(epoch FROM now() - live.oldest_due)::float8 AS oldest_due_age_s,
       live.next_retry,
       ended.completed_last_minute, ended.completed_last_hour, ended.failed_last_hour
  FROM live, completed_bounded, ended, estimate
