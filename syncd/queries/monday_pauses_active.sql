-- The monday pauses in force, for `syncd status`: every token's (an operator may not
-- hold the token, so none is picked out), and the locked boards (keys
-- "<token_id>:board:<board id>"), with the time left computed by the database.
-- Only a prefix of the token's SHA-256 is shown: enough to tell two tokens apart.
SELECT left(token_id, 12) AS token,
       nullif(split_part(token_id, ':board:', 2), '') AS board_id,
       paused_until,
       extract(epoch FROM paused_until - now())::float8 AS remaining,
       reason
  FROM monday_pauses
 WHERE paused_until > now()
 ORDER BY paused_until DESC
