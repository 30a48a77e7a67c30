-- Worker $1 is alive. An upsert, because an idle worker's row may have been pruned.
INSERT INTO syncd_workers (id, hostname, pid)
VALUES ($1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
