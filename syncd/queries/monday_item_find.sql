-- The monday item an entity was pushed to, and the hash of the values last sent.
SELECT item_id, values_hash
FROM monday_items
WHERE entity_type = $1 AND entity_id = $2 AND board_id = $3
