-- Forget an entity's item: it was archived, deleted, or monday no longer has it.
DELETE FROM monday_items
WHERE entity_type = $1 AND entity_id = $2 AND board_id = $3
