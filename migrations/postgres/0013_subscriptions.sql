-- Issue #21: FHIR Subscriptions (R5 Backport IG on R4). The `Subscription` resource itself is a
-- versioned FHIR resource; this table keeps what delivery needs beside it: the owner whose
-- consent decides every notification, the feed position matched up to (`position`, a
-- `resource_versions.seq`), the last event number given (`events`, "events since subscription
-- start"), the last one delivered on a rest-hook (`delivered`) with the retry state, and the
-- delivery lease that keeps one server at a time sending a subscription's events in order.
CREATE TABLE subscriptions (
    id              TEXT    PRIMARY KEY,    -- the Subscription resource's id
    owner           TEXT    NOT NULL,       -- users.id of the subscriber
    topic           TEXT    NOT NULL,       -- the topic's canonical URL
    channel         TEXT    NOT NULL,       -- rest-hook, websocket
    base            TEXT    NOT NULL,       -- the FHIR base URL it was created at
    status          TEXT    NOT NULL,       -- active, error, off
    position        BIGINT  NOT NULL,       -- feed position matched up to
    events          BIGINT  NOT NULL DEFAULT 0,
    delivered       BIGINT  NOT NULL DEFAULT 0,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT ,                -- microseconds since the Unix epoch, UTC
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT ,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX subscriptions_owner ON subscriptions (owner);

-- One row per event a subscription was told of, numbered from 1 per subscription in feed
-- order; `(subscription_id, seq)` is unique, so a version is one event at most.
CREATE TABLE subscription_events (
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    number          BIGINT  NOT NULL,
    seq             BIGINT  NOT NULL,       -- resource_versions.seq of the focus version
    resource_type   TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    at              BIGINT  NOT NULL,       -- the version's lastUpdated, microseconds UTC
    PRIMARY KEY (subscription_id, number),
    UNIQUE (subscription_id, seq)
);
