-- `syncd purge --dry-run`: how many rows with status $1 finished more than $2 seconds
-- ago, the rows a purge would delete. It counts over ix_<queue>_ended, never the
-- whole table.
SELECT count(*)
  FROM {table}
 WHERE status = $1
   AND completed_at < now() - make_interval(secs => $2)
