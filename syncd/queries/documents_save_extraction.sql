-- Record what was extracted from document $1, replacing an earlier extraction.
-- $2 is the text as UTF-8 bytes (bytea): the daemon passes it through from the
-- extractor process without decoding it; the server checks it is valid UTF-8.
-- Only the first $9 characters feed the search vector: PostgreSQL refuses a
-- tsvector of 1 MiB or more, and a huge document's opening is what search needs.
INSERT INTO document_extractions
       (document_id, text, page_count, word_count, sha256, size_bytes, detected_type,
        metadata, extracted_at, search)
SELECT $1, t.text, $3, $4, $5, $6, $7, $8, now(), to_tsvector('english', left(t.text, $9))
  FROM (SELECT convert_from($2::bytea, 'UTF8') AS text) AS t
    ON CONFLICT (document_id) DO UPDATE
   SET text = EXCLUDED.text,
       page_count = EXCLUDED.page_count,
       word_count = EXCLUDED.word_count,
       sha256 = EXCLUDED.sha256,
       size_bytes = EXCLUDED.size_bytes,
       detected_type = EXCLUDED.detected_type,
       metadata = EXCLUDED.metadata,
       extracted_at = EXCLUDED.extracted_at,
       search = EXCLUDED.search
