-- The newest operator actions first (ix_syncd_audit_at), one keyset page.
SELECT id, at, actor, action, queue, job_ids, detail
  FROM syncd_audit
 WHERE ($1::timestamptz IS NULL OR at < $1::timestamptz)
 ORDER BY at DESC
 LIMIT $2
