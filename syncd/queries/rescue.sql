-- Take back the jobs of workers that stopped heartbeating more than $1 seconds ago
-- (kill -9, power loss, a frozen process). The rescuing worker ($2) spares its own
-- jobs: it is alive, it knows they are running, and a late heartbeat (a frozen
-- listener, a database away for a while) is not death. What taking back writes
-- (counted, due at once, a 'rescued' history entry, or folded into the entity's
-- newer pending job) is take_back.sql's. The jobs are locked as they are chosen, so
-- a second rescuer at the same moment finds them no longer `processing` once this
-- one commits, and skips them, as it did when this was a single UPDATE.
WITH taken AS (
    SELECT q.*,
           format('worker %s stopped during attempt %s (no heartbeat for %s s)',
                  coalesce(q.worker_id::text, 'unknown'), q.attempts, $1::float8) AS reason
      FROM {table} q
     WHERE q.status = 'processing'
       AND q.worker_id IS DISTINCT FROM $2
       AND NOT EXISTS (
               SELECT 1 FROM syncd_workers w
                WHERE w.id = q.worker_id
                  AND w.heartbeat_at >= now() - make_interval(secs => $1))
       FOR UPDATE OF q
),
{part:take_back}
