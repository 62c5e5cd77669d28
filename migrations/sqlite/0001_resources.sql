-- Resource versions (every version ever written) and the current-version pointer.
-- seq is the global, monotonically increasing write sequence (the change feed).
CREATE TABLE resource_versions (
    seq           INTEGER PRIMARY KEY,
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    content       TEXT              -- NULL for a deletion (tombstone)
);
CREATE UNIQUE INDEX resource_versions_key ON resource_versions (resource_type, id, version_id);
CREATE INDEX resource_versions_type_seq ON resource_versions (resource_type, seq);

CREATE TABLE resources (
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    PRIMARY KEY (resource_type, id)
) WITHOUT ROWID;

-- Token index rows (today: `identifier`, used by conditional create and conditional
-- references; the search issue extends extraction to every token parameter).
CREATE TABLE search_token (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT,
    code          TEXT NOT NULL
);
CREATE INDEX search_token_lookup ON search_token (resource_type, param, code, system);
CREATE INDEX search_token_resource ON search_token (resource_type, id);
