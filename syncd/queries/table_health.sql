-- One queue table's bloat and vacuum state for `syncd doctor`: the statistics
-- collector's estimates, so nothing is scanned.
SELECT s.n_live_tup, s.n_dead_tup,
       greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum_any,
       s.autovacuum_count, c.reloptions
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE s.relid = $1::regclass
