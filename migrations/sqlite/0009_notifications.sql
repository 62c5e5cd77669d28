-- Issue #14: notifications. A notification is one notice to one user (in-app inbox row); each
-- channel it goes out on is a delivery (the outbox: the `notification.deliver` job works the
-- e-mail ones; `notification.sweep` re-enqueues any whose job went missing). `parameters` is a
-- JSON object of what the recipient may see, never clinical content. `dedup_key` makes a notice
-- that must be sent once (a consent expiring) idempotent per user.
CREATE TABLE notifications (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- inbox order and paging cursor
    id         TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    parameters TEXT    NOT NULL, -- JSON object of strings
    dedup_key  TEXT,
    created_at INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    read_at    INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, seq);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_dedup ON notifications (user_id, dedup_key)
    WHERE dedup_key IS NOT NULL;

CREATE TABLE notification_deliveries (
    id              TEXT    PRIMARY KEY,
    notification_id TEXT    NOT NULL REFERENCES notifications (id),
    channel         TEXT    NOT NULL, -- in_app, email
    status          TEXT    NOT NULL, -- pending, sent, failed (will retry), dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (notification_id, channel)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);

CREATE TABLE notification_preferences (
    user_id     TEXT    PRIMARY KEY,
    language    TEXT    NOT NULL,
    quiet_start INTEGER, -- minutes after local midnight
    quiet_end   INTEGER,
    quiet_zone  TEXT,    -- `UTC` or a fixed offset `+05:30`
    kinds       TEXT    NOT NULL, -- JSON: kind -> {"in_app": bool, "email": bool}
    updated_at  INTEGER NOT NULL
);

-- The client addresses and user agents a user signed in from (a few per user, most recent
-- kept): a sign-in from one not in the set is a `security.new_sign_in` notice.
CREATE TABLE notification_seen_clients (
    user_id      TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL, -- SHA-256 of address and user agent, hex
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);
