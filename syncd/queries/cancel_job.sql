-- An operator's cancel: a waiting job will not run; a dead one is set aside so
-- retention can delete it. A running job cannot be cancelled from outside.
UPDATE {table}
   SET status = 'cancelled', next_retry = NULL, completed_at = now()
 WHERE id = $1 AND status IN ('pending', 'failed')
RETURNING id
