-- 0006_backup_drills: where the restore drill records each run, so `status` and
-- `verify` show the last result. The drill (the backup sidecar's cron, or
-- `bo1-infra backup drill`) writes as the superuser over the socket; the
-- application roles have no business here, so nothing is granted to them.

CREATE TABLE bo1_backup_drills (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ran_at          timestamptz NOT NULL DEFAULT now(),
    ok              boolean NOT NULL,
    newest_backup   timestamptz,
    restorable_to   timestamptz,
    restore_seconds numeric NOT NULL DEFAULT 0,
    detail          text NOT NULL DEFAULT ''
);

CREATE INDEX idx_bo1_backup_drills_ran_at ON bo1_backup_drills (ran_at DESC);

REVOKE ALL ON bo1_backup_drills FROM PUBLIC;

COMMENT ON TABLE bo1_backup_drills IS 'bo1-infra restore drill results, newest last';
