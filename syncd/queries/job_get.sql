-- One job, every column, for `syncd job` and the console's job page.
SELECT * FROM {table} WHERE id = $1
