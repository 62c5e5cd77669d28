-- The durable job queue (issue #6): background work leased by workers (at-least-once).
-- A pending job is leasable once run_at is due; a processing job holds a lease until
-- lease_until, and run_at follows lease_until, so one index on (status, run_at) finds both the
-- due jobs and those whose worker died.
CREATE TABLE jobs (
    id           TEXT    PRIMARY KEY, -- UUID
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL, -- JSON
    owner        TEXT,
    status       TEXT    NOT NULL, -- pending, processing, completed, needs_review, failed, cancelled
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    lease_until  INTEGER,
    leased_by    TEXT,
    last_error   TEXT,
    result       TEXT, -- JSON
    unique_key   TEXT, -- at most one pending or processing job per key (periodic jobs)
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX jobs_owner ON jobs (owner, created_at);
CREATE INDEX jobs_kind ON jobs (kind, created_at);
CREATE UNIQUE INDEX jobs_unique_active ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');
