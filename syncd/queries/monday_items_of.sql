-- The monday items an entity was pushed to (one per board), for the job page.
SELECT board_id, item_id, synced_at
  FROM monday_items
 WHERE entity_type = $1 AND entity_id = $2
 ORDER BY board_id
