-- The pause in force for a monday token (or the lock of one of its boards: the key
-- "<token_id>:board:<board id>"), if any. The time left is computed by the database,
-- so every syncd host agrees on it whatever its own clock says.
SELECT extract(epoch FROM paused_until - now())::float8 AS remaining, reason
FROM monday_pauses
WHERE token_id = $1 AND paused_until > now()
