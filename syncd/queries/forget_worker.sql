-- A worker that stopped cleanly holds nothing: forget it.
DELETE FROM syncd_workers WHERE id = $1
