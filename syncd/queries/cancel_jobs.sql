-- An operator's bulk cancel of chosen waiting jobs ($1): they will not run. A job a
-- worker claimed meanwhile is left alone.
UPDATE {table}
   SET status = 'cancelled', next_retry = NULL, completed_at = now()
 WHERE id = ANY($1::uuid[]) AND status = 'pending'
RETURNING id
