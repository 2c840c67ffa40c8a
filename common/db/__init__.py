"""Database plumbing on psycopg for the hot paths: prepared statements (pgsql) and array
inserts, updates and COPY (bulk). No models, no app imports."""
