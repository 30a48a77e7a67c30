-- The application goes on working: Ada Lovelace gets a new title (her monday item
-- is updated, not made again) and Remington Rand is deleted (its item is archived).
UPDATE contacts SET title = 'Analyst', updated_at = now()
 WHERE email = 'ada@analytical.example';

INSERT INTO sync_queue (entity_type, entity_id)
SELECT 'contact', id FROM contacts WHERE email = 'ada@analytical.example';

INSERT INTO sync_queue (entity_type, entity_id, operation)
SELECT 'organization', id, 'delete' FROM organizations WHERE name = 'Remington Rand';

DELETE FROM organizations WHERE name = 'Remington Rand';
