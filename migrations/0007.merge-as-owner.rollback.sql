GRANT EXECUTE ON FUNCTION sync_queue_merge_pending() TO PUBLIC;
ALTER FUNCTION sync_queue_merge_pending() SECURITY INVOKER RESET search_path;
