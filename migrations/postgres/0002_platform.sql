-- Platform state (issue #4): user accounts, refresh tokens and the audit trail.
-- PII columns hold AEAD ciphertext produced by the server; e-mail is looked up by keyed hash.
CREATE TABLE users (
    id              TEXT    PRIMARY KEY,
    email_hash      BYTEA   NOT NULL UNIQUE,
    email_enc       BYTEA   NOT NULL,
    name_enc        BYTEA,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    patient_id      TEXT,
    totp_secret_enc BYTEA,
    totp_enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_codes    TEXT    NOT NULL DEFAULT '[]', -- JSON array of code hashes
    created_at      BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX users_role_status ON users (role, status);

-- Opaque refresh tokens, stored hashed; a family is one login's rotation chain.
CREATE TABLE refresh_tokens (
    token_hash BYTEA  PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id),
    family_id  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- The audit trail: append-only, each record chained to the previous one by hash.
CREATE TABLE audit_log (
    seq           BIGINT  PRIMARY KEY,
    recorded_at   BIGINT  NOT NULL,
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
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
