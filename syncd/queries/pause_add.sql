-- Pause a queue ($2 = '*') or one kind of its jobs. The trigger on syncd_pauses
-- announces it to every daemon. A pause already in force is kept as it was (its
-- time, author and reason): nothing comes back, and the caller says so.
INSERT INTO syncd_pauses (queue, kind, paused_by, reason)
VALUES ($1, $2, $3, $4)
ON CONFLICT (queue, kind) DO NOTHING
RETURNING kind
