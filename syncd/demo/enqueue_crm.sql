-- The application pushes its CRM to monday.com: one job per organization and contact.
INSERT INTO sync_queue (entity_type, entity_id)
SELECT 'organization', id FROM organizations ORDER BY name;

INSERT INTO sync_queue (entity_type, entity_id)
SELECT 'contact', id FROM contacts ORDER BY last_name;

-- An entity type no [monday.entities.*] section configures: it fails at once,
-- and the message names the types that are configured.
INSERT INTO sync_queue (entity_type, entity_id) VALUES ('invoice', gen_random_uuid());
