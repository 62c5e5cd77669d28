-- Search index tables, one per parameter type, filled at write time inside the resource's
-- transaction from the official R4 SearchParameter expressions. Rows exist only for the current
-- version of live resources.

-- `resources` gets an integer surrogate key `rid`: index rows carry it instead of
-- (resource_type, id), which keeps them small. rids are unique across types, assigned by the
-- (serialized) writer as MAX(rid)+1…, and a resource keeps its rid across updates and deletes.
CREATE TABLE resources_new (
    rid           BIGINT  PRIMARY KEY,
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    BIGINT  NOT NULL,
    seq           BIGINT  NOT NULL,
    deleted       BOOLEAN NOT NULL,
    last_updated  BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    UNIQUE (resource_type, id)
);
INSERT INTO resources_new (rid, resource_type, id, version_id, seq, deleted, last_updated)
SELECT ROW_NUMBER() OVER (ORDER BY r.seq), r.resource_type, r.id, r.version_id, r.seq, r.deleted,
       COALESCE((SELECT v.last_updated FROM resource_versions v WHERE v.seq = r.seq), 0)
FROM resources r;
DROP TABLE resources;
ALTER TABLE resources_new RENAME TO resources;
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated);

-- Index tables are clustered on their lookup key (SQLite: WITHOUT ROWID), which ends with the rid, so each row is
-- stored once, in lookup order; `param` is shared across resource types (the query's
-- `resources` row restricts the type, rids being unique across types). Absent systems, codes
-- and urls are stored as '' (key columns cannot be NULL).
CREATE TABLE search_string (
    param         TEXT NOT NULL,
    value_norm    TEXT COLLATE "C" NOT NULL, -- lowercase, accents removed
    value_exact   TEXT NOT NULL,
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, value_norm, value_exact, rid)
);
CREATE INDEX search_string_rid ON search_string (rid);

CREATE TABLE search_reference (
    param         TEXT NOT NULL,
    target_type   TEXT NOT NULL, -- '' when the reference is not Type/id (e.g. a urn)
    target_id     TEXT NOT NULL,
    url           TEXT NOT NULL, -- '' for relative references
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, target_id, target_type, url, rid)
);
CREATE INDEX search_reference_rid ON search_reference (rid);

CREATE TABLE search_date (
    param         TEXT NOT NULL,
    low           BIGINT NOT NULL, -- inclusive, microseconds since the epoch (UTC)
    high          BIGINT NOT NULL, -- exclusive
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, low, high, rid)
);
CREATE INDEX search_date_rid ON search_date (rid);

CREATE TABLE search_number (
    param         TEXT NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, value, rid)
);
CREATE INDEX search_number_rid ON search_number (rid);

CREATE TABLE search_quantity (
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, code, value, system, rid)
);
CREATE INDEX search_quantity_rid ON search_quantity (rid);

CREATE TABLE search_uri (
    param         TEXT NOT NULL,
    uri           TEXT COLLATE "C" NOT NULL,
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, uri, rid)
);
CREATE INDEX search_uri_rid ON search_uri (rid);

-- Token rows move to a clustered table too (0001's search_token is replaced).
DROP TABLE search_token;
CREATE TABLE search_token (
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    rid           BIGINT NOT NULL,
    PRIMARY KEY (param, code, system, rid)
);
CREATE INDEX search_token_rid ON search_token (rid);

-- Composite parameters (token$token, token$quantity, token$date, token$string, reference$token,
-- token$number$number): one row per combination of component values of one element.
CREATE TABLE search_composite (
    param         TEXT NOT NULL,
    s1            TEXT,
    k1            TEXT NOT NULL,
    s2            TEXT,
    k2            TEXT,
    n2            DOUBLE PRECISION,
    lo2           BIGINT,
    hi2           BIGINT,
    n3            DOUBLE PRECISION,
    rid           BIGINT NOT NULL
);
CREATE INDEX search_composite_lookup ON search_composite (param, k1);
CREATE INDEX search_composite_rid ON search_composite (rid);
