-- Retention: delete at most $3 rows with status $1 that finished more than $2
-- seconds ago. Small batches keep each transaction short and vacuum ahead of the
-- churn; failed rows are never passed here: they wait for an operator.
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
