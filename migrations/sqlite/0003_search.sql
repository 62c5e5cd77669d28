-- Search index tables, one per parameter type, filled at write time inside the resource's
-- transaction from the official R4 SearchParameter expressions. Rows exist only for the current
-- version of live resources.

-- `resources` gets an integer surrogate key `rid`: index rows carry it instead of
-- (resource_type, id), which keeps them small. rids are unique across types, assigned by the
-- (serialized) writer as MAX(rid)+1…, and a resource keeps its rid across updates and deletes.
CREATE TABLE resources_new (
    rid           INTEGER PRIMARY KEY,
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version_id    INTEGER  NOT NULL,
    seq           INTEGER  NOT NULL,
    deleted       INTEGER NOT NULL,
    last_updated  INTEGER  NOT NULL, -- microseconds since the Unix epoch, UTC
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
    value_norm    TEXT NOT NULL, -- lowercase, accents removed
    value_exact   TEXT NOT NULL,
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, value_norm, value_exact, rid)
) WITHOUT ROWID;
CREATE INDEX search_string_rid ON search_string (rid);

CREATE TABLE search_reference (
    param         TEXT NOT NULL,
    target_type   TEXT NOT NULL, -- '' when the reference is not Type/id (e.g. a urn)
    target_id     TEXT NOT NULL,
    url           TEXT NOT NULL, -- '' for relative references
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, target_id, target_type, url, rid)
) WITHOUT ROWID;
CREATE INDEX search_reference_rid ON search_reference (rid);

CREATE TABLE search_date (
    param         TEXT NOT NULL,
    low           INTEGER NOT NULL, -- inclusive, microseconds since the epoch (UTC)
    high          INTEGER NOT NULL, -- exclusive
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, low, high, rid)
) WITHOUT ROWID;
CREATE INDEX search_date_rid ON search_date (rid);

CREATE TABLE search_number (
    param         TEXT NOT NULL,
    value         REAL NOT NULL,
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, value, rid)
) WITHOUT ROWID;
CREATE INDEX search_number_rid ON search_number (rid);

CREATE TABLE search_quantity (
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    value         REAL NOT NULL,
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, code, value, system, rid)
) WITHOUT ROWID;
CREATE INDEX search_quantity_rid ON search_quantity (rid);

CREATE TABLE search_uri (
    param         TEXT NOT NULL,
    uri           TEXT NOT NULL,
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, uri, rid)
) WITHOUT ROWID;
CREATE INDEX search_uri_rid ON search_uri (rid);

-- Token rows move to a clustered table too (0001's search_token is replaced).
DROP TABLE search_token;
CREATE TABLE search_token (
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    rid           INTEGER NOT NULL,
    PRIMARY KEY (param, code, system, rid)
) WITHOUT ROWID;
CREATE INDEX search_token_rid ON search_token (rid);

-- Composite parameters (token$token, token$quantity, token$date, token$string, reference$token,
-- token$number$number): one row per combination of component values of one element.
CREATE TABLE search_composite (
    param         TEXT NOT NULL,
    s1            TEXT,
    k1            TEXT NOT NULL,
    s2            TEXT,
    k2            TEXT,
    n2            REAL,
    lo2           INTEGER,
    hi2           INTEGER,
    n3            REAL,
    rid           INTEGER NOT NULL
);
CREATE INDEX search_composite_lookup ON search_composite (param, k1);
CREATE INDEX search_composite_rid ON search_composite (rid);

-- Planner statistics, until ANALYZE replaces them with real ones. Without any, SQLite prefers
-- the resources(resource_type, …) index to rid lookups driven by the index tables, so a search
-- would scan every resource of its type. These describe a large database: many resources per
-- type and many rows per parameter, few rows per rid or per key.
ANALYZE sqlite_schema;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('resources', 'resources_type_updated', '1000000 20000 2'),
    ('resources', 'sqlite_autoindex_resources_1', '1000000 20000 1'),
    ('search_string', 'search_string', '1000000 20000 5 5 1'),
    ('search_string', 'search_string_rid', '1000000 5'),
    ('search_token', 'search_token', '1000000 20000 20 20 1'),
    ('search_token', 'search_token_rid', '1000000 5'),
    ('search_reference', 'search_reference', '1000000 20000 10 10 10 1'),
    ('search_reference', 'search_reference_rid', '1000000 5'),
    ('search_date', 'search_date', '1000000 20000 5 5 1'),
    ('search_date', 'search_date_rid', '1000000 5'),
    ('search_number', 'search_number', '1000000 20000 5 1'),
    ('search_number', 'search_number_rid', '1000000 5'),
    ('search_quantity', 'search_quantity', '1000000 20000 50 5 5 1'),
    ('search_quantity', 'search_quantity_rid', '1000000 5'),
    ('search_uri', 'search_uri', '1000000 20000 10 1'),
    ('search_uri', 'search_uri_rid', '1000000 5'),
    ('search_composite', 'search_composite_lookup', '1000000 20000 20'),
    ('search_composite', 'search_composite_rid', '1000000 5');
-- Loads them into this connection (others load them when they open).
ANALYZE sqlite_schema;
