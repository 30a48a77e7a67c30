-- The pauses in force as one value, {queue: [kinds]} ('*': the whole queue): what a
-- daemon re-reads when a NOTIFY on syncd_pauses says they changed, and what the
-- metrics show. syncd_pauses holds a row per pause, so this is a tiny read.
-- poll.sql carries the same expression, so the periodic poll is the backstop.
SELECT coalesce(jsonb_object_agg(queue, kinds), '{}') AS paused
  FROM (SELECT queue, jsonb_agg(kind ORDER BY kind) AS kinds
          FROM syncd_pauses GROUP BY queue) p
