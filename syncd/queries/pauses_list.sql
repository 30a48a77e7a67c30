-- Every pause in force with who set it and why, for `syncd status` and the console.
SELECT queue, kind, paused_at, paused_by, reason,
       extract(epoch FROM now() - paused_at)::float8 AS paused_s
  FROM syncd_pauses
 ORDER BY queue, kind
