-- The webhooks syncd installed, oldest first.
SELECT webhook_id, board_id, event, created_at
FROM monday_webhooks
ORDER BY created_at, webhook_id
