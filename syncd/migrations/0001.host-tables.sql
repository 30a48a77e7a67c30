-- The host application's tables. syncd only creates a reference shape of each when
-- it is missing, and marks what it created so that the rollback never drops a
-- table the application owns.
DO $$
BEGIN
    IF to_regclass('organizations') IS NULL THEN
        CREATE TABLE organizations (
            id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name       text,
            website    text,
            phone      text,
            industry   text,
            country    text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE organizations IS 'syncd reference shape';
    END IF;
    IF to_regclass('contacts') IS NULL THEN
        CREATE TABLE contacts (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            first_name      text,
            last_name       text,
            email           text,
            phone           text,
            title           text,
            organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE contacts IS 'syncd reference shape';
    END IF;
    IF to_regclass('documents') IS NULL THEN
        CREATE TABLE documents (
            id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            filename     text,
            content_type text,
            storage_path text,
            size_bytes   bigint,
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE documents IS 'syncd reference shape';
    END IF;
END
$$;
