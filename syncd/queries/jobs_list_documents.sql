-- `syncd jobs documents` and the console's job list: newest first, one keyset page.
-- Every filter is optional ($n IS NULL turns it off); syncd runs it with custom plans
-- so an unused filter folds away and the plan reads an index: the live index for
-- any status but completed, the document_id index for one document, otherwise the
-- newest index. The page ends before the cursor ($6, $7), never at an OFFSET.
SELECT id, status, document_id, operation, priority, attempts, max_attempts,
       created_at, last_attempt, next_retry, completed_at, error_message
  FROM document_processing_queue
 WHERE ($1::text IS NULL OR status = $1::text)
   AND ($2::uuid IS NULL OR document_id = $2::uuid)
   AND ($3::text IS NULL OR operation = $3::text)
   AND ($4::text IS NULL OR error_message ILIKE $4::text)
   AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
   AND ($6::timestamptz IS NULL OR (created_at, id) < ($6::timestamptz, $7::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $8
