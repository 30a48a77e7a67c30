-- A webhook removed from monday (or gone there already).
DELETE FROM monday_webhooks WHERE webhook_id = $1
