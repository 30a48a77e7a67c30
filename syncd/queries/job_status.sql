SELECT status FROM {table} WHERE id = $1
