-- depends: 0001.host-tables
-- What syncd remembers of each monday.com push: the item it created and a hash of
-- the values last sent, so an unchanged row is not pushed again.
CREATE TABLE monday_items (
    entity_type varchar(50) NOT NULL,
    entity_id   uuid        NOT NULL,
    board_id    bigint      NOT NULL,
    item_id     bigint      NOT NULL,
    values_hash text        NOT NULL,
    synced_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, board_id)
);
CREATE INDEX ix_monday_items_item ON monday_items (board_id, item_id);

-- A pause of all monday.com work, shared by every syncd process that uses the same
-- token, so two daemons do not each learn a rate limit the hard way. The token is
-- stored only as its SHA-256.
CREATE TABLE monday_pauses (
    token_id     text        PRIMARY KEY,
    paused_until timestamptz NOT NULL,
    reason       text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The text and metadata extracted from each document, searchable by full text.
CREATE TABLE document_extractions (
    document_id   uuid        PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    text          text        NOT NULL,
    page_count    integer,
    word_count    integer     NOT NULL,
    sha256        char(64)    NOT NULL,
    size_bytes    bigint      NOT NULL,
    detected_type varchar(50) NOT NULL,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    extracted_at  timestamptz NOT NULL DEFAULT now(),
    search        tsvector    NOT NULL
);
CREATE INDEX ix_document_extractions_search ON document_extractions USING gin (search);
