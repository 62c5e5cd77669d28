-- The durable key-value store (issue #11): the access-token denylist, revocation cut-offs,
-- lockouts and rate/break-glass counters of a deployment without Redis, so that they survive a
-- restart. A row is live while expires_at (microseconds since the Unix epoch, UTC, by the
-- store's clock) is in the future; a counter keeps its count in `count` (value NULL), any
-- other entry its bytes in `value` (count NULL). Expired rows are swept now and then.
CREATE TABLE kv (
    key        TEXT    PRIMARY KEY,
    value      BYTEA,
    count      BIGINT,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX kv_expires_at ON kv (expires_at);
