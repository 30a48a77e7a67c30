-- Jobs that ended per minute over the last hour, for the console's sparkline: an
-- index-only scan of ix_<queue>_ended (completed_at, with the status included).
SELECT date_trunc('minute', completed_at) AS minute,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed
  FROM {table}
 WHERE status IN ('completed', 'failed', 'cancelled')
   AND completed_at > now() - interval '1 hour'
 GROUP BY 1
 ORDER BY 1
