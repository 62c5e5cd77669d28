-- Issue #17: SMART App Launch. Registered apps (their RFC 7591 metadata as JSON, pending until
-- an admin approves them), the decisions users remembered per app, and the apps' refresh
-- tokens (hashed, in rotation families like the portals').
CREATE TABLE smart_clients (
    client_id  TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL, -- public | confidential-asymmetric
    status     TEXT    NOT NULL, -- pending | approved | suspended
    metadata   TEXT    NOT NULL, -- JSON
    created_at BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    updated_at BIGINT  NOT NULL
);

CREATE TABLE smart_authorizations (
    user_id      TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    scopes       TEXT    NOT NULL, -- space-separated, as granted
    granted_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE smart_refresh_tokens (
    token_hash BYTEA   PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    patient_id TEXT,
    scopes     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX smart_refresh_family ON smart_refresh_tokens (family_id);
CREATE INDEX smart_refresh_user_client ON smart_refresh_tokens (user_id, client_id);
