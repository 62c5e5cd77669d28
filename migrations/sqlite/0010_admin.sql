-- Issue #15 (admin API): when each user last signed in, and researcher invitations.
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER; -- microseconds since the Unix epoch, UTC

-- A single-use, expiring invitation that creates an account; only the link's token hash is
-- stored. The e-mail is kept like a user's: a keyed lookup hash and AEAD ciphertext.
CREATE TABLE invitations (
    id          TEXT    PRIMARY KEY,
    email_hash  BLOB    NOT NULL,
    email_enc   BLOB    NOT NULL,
    role        TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT,
    revoked_at  INTEGER
);
CREATE INDEX invitations_created ON invitations (created_at);
