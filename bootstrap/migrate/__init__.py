"""The migration runner: plain-SQL files under sql/migrations, applied with psycopg 3.

files   discovers and reads the migration files (pure, no database)
plan    decides what to apply or roll back, and detects drift (pure)
lock    the pg_advisory_lock context manager that serializes runners
runner  the database side: version table, transactions, timing
"""
