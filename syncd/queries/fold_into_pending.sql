-- A part of write_outcomes.sql, rescue.sql and rescue_forgotten.sql, not a statement:
-- the CTE `merged`, after their CTE `folding` (id, into_id, operation, priority, due).
--
-- A job bound back to pending (a retry with attempts left, a snooze, a release, a
-- rescue) whose entity got a pending job while it ran cannot be pending beside it:
-- one pending job per entity (ux_sync_queue_one_pending), and the INSERT did not
-- merge into this job, which was not pending then. It is folded into that newer job
-- (`into_id`) by the rules of the INSERT merge (migration 0007), so that, as River or
-- Oban would, one job carries the entity's change on and neither is lost:
--   * a delete wins over an upsert, the higher priority wins;
--   * the newer job keeps its own payload (the newer change), its attempts and its
--     history: what it has not run has not failed;
--   * it becomes due at the earlier of the two times, no time (due now) winning:
--     folding never postpones work that was due, as the INSERT merge makes a job
--     due now. So a released or rescued job's change runs at once, a retry's or a
--     snooze's no later than its own `due` would have run it, and a newer job the
--     application scheduled for later runs then at the latest.
-- A newer job that is no longer pending when it is reached (cancelled, deleted
-- meanwhile) takes nothing, and the job goes back to pending as it would have. The
-- statement ends the folded job: `cancelled`, "merged into pending job <into_id>".
merged AS (
    UPDATE {table} b
       SET operation = CASE WHEN f.operation = 'delete' THEN 'delete' ELSE b.operation END,
           priority = greatest(b.priority, f.priority),
           next_retry = CASE WHEN b.next_retry IS NULL OR f.due IS NULL THEN NULL
                             ELSE least(b.next_retry, f.due) END
      FROM folding f
     WHERE b.id = f.into_id
       AND b.status = 'pending'
    RETURNING f.id, b.id AS into_id, b.next_retry
)
