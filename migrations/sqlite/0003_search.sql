-- Search index tables, one per parameter type, filled at write time inside the resource's
-- transaction from the official R4 SearchParameter expressions. Rows exist only for the current
-- version of live resources.
ALTER TABLE resources ADD COLUMN last_updated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated);

-- Index tables are clustered on their lookup key (SQLite: WITHOUT ROWID; the key includes the
-- resource id, so each row is stored once, in lookup order). Absent systems, codes and urls are
-- stored as '' (key columns cannot be NULL).
CREATE TABLE search_string (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    value_norm    TEXT NOT NULL, -- lowercase, accents removed
    value_exact   TEXT NOT NULL,
    PRIMARY KEY (resource_type, param, value_norm, value_exact, id)
) WITHOUT ROWID;
CREATE INDEX search_string_resource ON search_string (resource_type, id);

CREATE TABLE search_reference (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    target_type   TEXT NOT NULL, -- '' when the reference is not Type/id (e.g. a urn)
    target_id     TEXT NOT NULL,
    url           TEXT NOT NULL, -- '' for relative references
    PRIMARY KEY (resource_type, param, target_id, target_type, url, id)
) WITHOUT ROWID;
CREATE INDEX search_reference_resource ON search_reference (resource_type, id);

CREATE TABLE search_date (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    low           INTEGER NOT NULL, -- inclusive, microseconds since the epoch (UTC)
    high          INTEGER NOT NULL, -- exclusive
    PRIMARY KEY (resource_type, param, low, high, id)
) WITHOUT ROWID;
CREATE INDEX search_date_resource ON search_date (resource_type, id);

CREATE TABLE search_number (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    value         REAL NOT NULL,
    PRIMARY KEY (resource_type, param, value, id)
) WITHOUT ROWID;
CREATE INDEX search_number_resource ON search_number (resource_type, id);

CREATE TABLE search_quantity (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    value         REAL NOT NULL,
    PRIMARY KEY (resource_type, param, code, value, system, id)
) WITHOUT ROWID;
CREATE INDEX search_quantity_resource ON search_quantity (resource_type, id);

CREATE TABLE search_uri (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    uri           TEXT NOT NULL,
    PRIMARY KEY (resource_type, param, uri, id)
) WITHOUT ROWID;
CREATE INDEX search_uri_resource ON search_uri (resource_type, id);

-- Token rows move to a clustered table too (0001's search_token is replaced).
DROP TABLE search_token;
CREATE TABLE search_token (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    code          TEXT NOT NULL,
    PRIMARY KEY (resource_type, param, code, system, id)
) WITHOUT ROWID;
CREATE INDEX search_token_resource ON search_token (resource_type, id);

-- Composite parameters (token$token, token$quantity, token$date, token$string, reference$token,
-- token$number$number): one row per combination of component values of one element.
CREATE TABLE search_composite (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    s1            TEXT,
    k1            TEXT NOT NULL,
    s2            TEXT,
    k2            TEXT,
    n2            REAL,
    lo2           INTEGER,
    hi2           INTEGER,
    n3            REAL
);
CREATE INDEX search_composite_lookup ON search_composite (resource_type, param, k1);
CREATE INDEX search_composite_resource ON search_composite (resource_type, id);
