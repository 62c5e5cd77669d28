-- Platform state (issue #4): user accounts, refresh tokens and the audit trail.
-- PII columns hold AEAD ciphertext produced by the server; e-mail is looked up by keyed hash.
CREATE TABLE users (
    id              TEXT    PRIMARY KEY,
    email_hash      BLOB    NOT NULL UNIQUE,
    email_enc       BLOB    NOT NULL,
    name_enc        BLOB,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    patient_id      TEXT,
    totp_secret_enc BLOB,
    totp_enabled    INTEGER NOT NULL DEFAULT 0,
    backup_codes    TEXT    NOT NULL DEFAULT '[]', -- JSON array of code hashes
    created_at      INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    updated_at      INTEGER NOT NULL
);
CREATE INDEX users_role_status ON users (role, status);

-- Opaque refresh tokens, stored hashed; a family is one login's rotation chain.
CREATE TABLE refresh_tokens (
    token_hash BLOB    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    family_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- The audit trail: append-only, each record chained to the previous one by hash.
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    recorded_at   INTEGER NOT NULL,
    actor         TEXT,
    role          TEXT,
    action        TEXT    NOT NULL,
    resource_type TEXT,
    resource_ids  TEXT    NOT NULL, -- JSON array
    patient_id    TEXT,
    outcome       INTEGER NOT NULL, -- HTTP status
    client_ip     TEXT,
    request_id    TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_patient ON audit_log (patient_id, seq);
CREATE INDEX audit_log_time ON audit_log (recorded_at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
