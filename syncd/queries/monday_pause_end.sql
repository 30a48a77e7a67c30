-- `syncd monday resume`: end every monday pause in force now, and make due at once the
-- sync jobs that wait for it. Those were snoozed until the pause's end (or earlier, by
-- the pacer); a job due later waits for a reason of its own and is left alone. The
-- jobs stay pending, so the status trigger does not fire: the NOTIFY wakes the daemons.
WITH ended AS (
    DELETE FROM monday_pauses
     WHERE paused_until > now()
    RETURNING token_id, paused_until, reason
), woken AS (
    UPDATE sync_queue
       SET next_retry = now()
     WHERE status = 'pending'
       AND next_retry > now()
       AND next_retry <= (SELECT max(paused_until) FROM ended) + interval '1 second'
    RETURNING id
), counted AS (
    SELECT count(*) AS n FROM woken
)
SELECT left(e.token_id, 12) AS token,
       e.paused_until,
       e.reason,
       c.n AS woken,
       CASE WHEN c.n > 0 THEN pg_notify('syncd_sync_queue', '') END AS notified
  FROM ended e CROSS JOIN counted c
