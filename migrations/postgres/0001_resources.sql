-- Resource versions (every version ever written) and the current-version pointer.
-- seq is the global, monotonically increasing write sequence (the change feed); writers take
-- a transaction-scoped advisory lock before assigning it, so sequence order is commit order.
CREATE TABLE resource_versions (
    seq           BIGINT  PRIMARY KEY,
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    BIGINT  NOT NULL,
    last_updated  BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    content       TEXT              -- NULL for a deletion (tombstone)
);
CREATE UNIQUE INDEX resource_versions_key ON resource_versions (resource_type, id, version_id);
CREATE INDEX resource_versions_type_seq ON resource_versions (resource_type, seq);

CREATE TABLE resources (
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    BIGINT  NOT NULL,
    seq           BIGINT  NOT NULL,
    deleted       BOOLEAN NOT NULL,
    PRIMARY KEY (resource_type, id)
);
