"""Backups and point-in-time recovery with pgBackRest, and Redis snapshots.

policy     (pure) what a stack keeps and when: pgbackrest.conf, the archive settings,
           the sidecar's crontab and start script, the drill script
pgbackrest the live edge: run pgBackRest here or on the backup host, one-line errors
commands   `bo1-infra backup run | list | restore | drill`
"""
