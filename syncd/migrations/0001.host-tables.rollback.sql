DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'documents', 'organizations'] LOOP
        IF to_regclass(t) IS NOT NULL
           AND obj_description(to_regclass(t), 'pg_class') = 'syncd reference shape' THEN
            EXECUTE format('DROP TABLE %I', t);
        END IF;
    END LOOP;
END
$$;
