-- Release the reconcile lock taken by monday_reconcile_lock on this connection.
SELECT pg_advisory_unlock(hashtext('syncd.monday.reconcile'))
