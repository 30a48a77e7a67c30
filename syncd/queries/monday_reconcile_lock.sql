-- Only one daemon reconciles at a time: a session advisory lock, held on a connection
-- of its own for the run and released by monday_reconcile_unlock (or by the
-- connection's end, should the daemon die). The key is fixed, namespaced by a text hash.
SELECT pg_try_advisory_lock(hashtext('syncd.monday.reconcile'))
