-- Issue #17: SMART App Launch. Registered apps (their RFC 7591 metadata as JSON, pending until
-- an admin approves them), the decisions users remembered per app, and the apps' refresh
-- tokens (hashed, in rotation families like the portals').
CREATE TABLE smart_clients (
    client_id  TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL, -- public | confidential-asymmetric
    status     TEXT    NOT NULL, -- pending | approved | suspended
    metadata   TEXT    NOT NULL, -- JSON
    created_at INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    updated_at INTEGER NOT NULL
);

CREATE TABLE smart_authorizations (
    user_id      TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    scopes       TEXT    NOT NULL, -- space-separated, as granted
    granted_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE smart_refresh_tokens (
    token_hash BLOB    PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    patient_id TEXT,
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX smart_refresh_family ON smart_refresh_tokens (family_id);
CREATE INDEX smart_refresh_user_client ON smart_refresh_tokens (user_id, client_id);
