-- One operator action, for the audit view: who, what, on which jobs, when.
INSERT INTO syncd_audit (actor, action, queue, job_ids, detail)
VALUES ($1, $2, $3, $4::uuid[], $5::jsonb)
