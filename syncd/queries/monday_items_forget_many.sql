-- Forget links whose item is gone from the board, so the next push creates it again
-- instead of failing an update first.
DELETE FROM monday_items
WHERE entity_type = $1 AND board_id = $2 AND entity_id = ANY($3::uuid[])
