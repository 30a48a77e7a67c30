-- The latest $1 attempts that ended in an error, dead or waiting for a retry.
SELECT q.*
  FROM {table} q
 WHERE q.error_message IS NOT NULL
   AND q.status IN ('failed', 'pending')
 ORDER BY q.last_attempt DESC NULLS LAST
 LIMIT $1
