-- The latest $1 attempts that ended in an error, dead or waiting for a retry. Each
-- half reads an index in order and stops after $1 rows, never the whole queue: dead
-- jobs newest first from ix_<queue>_live, retries by when they fall due from the
-- next_retry index (a job waiting out a backoff has failed an attempt).
SELECT *
  FROM ((SELECT q.* FROM {table} q
          WHERE q.status = 'failed'
          ORDER BY q.status, q.created_at DESC, q.id DESC
          LIMIT $1)
        UNION ALL
        (SELECT q.* FROM {table} q
          WHERE q.status = 'pending' AND q.next_retry IS NOT NULL
            AND q.error_message IS NOT NULL
          ORDER BY q.next_retry DESC
          LIMIT $1)) recent
 ORDER BY last_attempt DESC NULLS LAST
 LIMIT $1
