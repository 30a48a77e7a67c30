-- One queue's health for `syncd status`: counts by status, how long the oldest due
-- job has waited, when the next retry falls due, and recent throughput.
SELECT count(*) FILTER (WHERE status = 'pending')    AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed')  AS completed,
       count(*) FILTER (WHERE status = 'failed')     AS failed,
       count(*) FILTER (WHERE status = 'cancelled')  AS cancelled,
       count(*) FILTER (WHERE status = 'pending'
                          AND (next_retry IS NULL OR next_retry <= now())) AS due,
       extract(epoch FROM now() - min(coalesce(next_retry, created_at))
               FILTER (WHERE status = 'pending'
                         AND (next_retry IS NULL OR next_retry <= now())))::float8
           AS oldest_due_age_s,
       min(next_retry) FILTER (WHERE status = 'pending' AND next_retry > now()) AS next_retry,
       count(*) FILTER (WHERE status = 'completed'
                          AND completed_at > now() - interval '1 minute') AS completed_last_minute,
       count(*) FILTER (WHERE status = 'completed'
                          AND completed_at > now() - interval '1 hour') AS completed_last_hour,
       count(*) FILTER (WHERE status = 'failed'
                          AND completed_at > now() - interval '1 hour') AS failed_last_hour
  FROM {table}
