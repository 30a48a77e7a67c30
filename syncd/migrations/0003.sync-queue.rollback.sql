DROP TABLE sync_queue;
DROP FUNCTION sync_queue_merge_pending();
