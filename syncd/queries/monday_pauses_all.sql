-- Every monday pause still in force (one per token; a handful of rows), for the
-- console's monday panel and `syncd doctor`.
SELECT token_id, paused_until, reason, updated_at,
       extract(epoch FROM paused_until - now())::float8 AS remaining_s
  FROM monday_pauses
 WHERE paused_until > now() - interval '1 hour'
 ORDER BY paused_until DESC
