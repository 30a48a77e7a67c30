-- Pause all monday work for a token for $2 seconds from now, or keep a longer
-- pause already in force. $1 is the token's SHA-256, never the token (with
-- ":board:<board id>" for the lock of one board).
INSERT INTO monday_pauses AS p (token_id, paused_until, reason)
VALUES ($1, now() + make_interval(secs => $2), $3)
ON CONFLICT (token_id) DO UPDATE
SET paused_until = GREATEST(p.paused_until, EXCLUDED.paused_until),
    reason = CASE WHEN EXCLUDED.paused_until >= p.paused_until
                  THEN EXCLUDED.reason ELSE p.reason END,
    updated_at = now()
RETURNING extract(epoch FROM paused_until - now())::float8 AS remaining
