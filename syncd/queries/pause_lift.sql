-- Lift the pauses of queue $1: the one of kind $2, or every one of them (the whole
-- queue's and each kind's) when $2 is NULL, so `syncd resume sync` lets every sync
-- job through again. Returns what was lifted; the trigger announces it.
DELETE FROM syncd_pauses
 WHERE queue = $1 AND ($2::text IS NULL OR kind = $2)
RETURNING kind
