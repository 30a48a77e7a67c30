-- Retention: delete at most $3 rows with status $1 that finished more than $2
-- seconds ago. Small batches keep each transaction short and vacuum ahead of the
-- churn; failed rows are never passed here: they wait for an operator.
-- Every finished row has a completed_at, however it finished (an application's own
-- `SET status = 'cancelled'` included: migrations/0009 stamps it), so the age is a
-- range scan of ix_<queue>_ended on completed_at, oldest first, never a per-row sum.
WITH doomed AS (
    SELECT id
      FROM {table}
     WHERE status = $1
       AND completed_at < now() - make_interval(secs => $2)
     ORDER BY completed_at
     LIMIT $3
       FOR UPDATE SKIP LOCKED
)
DELETE FROM {table} q
 USING doomed
 WHERE q.id = doomed.id
