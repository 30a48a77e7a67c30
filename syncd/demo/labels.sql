-- What to call each entity and document on screen, by its id.
SELECT id, concat_ws(' ', first_name, last_name) AS label FROM contacts
UNION ALL
SELECT id, name FROM organizations
UNION ALL
SELECT id, storage_path FROM documents;
