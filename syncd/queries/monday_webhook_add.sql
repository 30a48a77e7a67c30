-- A webhook `syncd monday webhooks install` created, so that `remove` finds it.
INSERT INTO monday_webhooks (webhook_id, board_id, event)
VALUES ($1, $2, $3)
ON CONFLICT (webhook_id) DO NOTHING
