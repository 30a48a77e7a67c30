-- The host application's row for document $1: where its file is, what it claims to be.
SELECT id, filename, content_type, storage_path, size_bytes
  FROM documents
 WHERE id = $1
