-- The statements of this release call it: roll back their code first.
DROP FUNCTION syncd_append_attempt(jsonb, jsonb);
