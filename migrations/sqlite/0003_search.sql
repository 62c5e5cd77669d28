-- Search index tables, one per parameter type, filled at write time inside the resource's
-- transaction from the official R4 SearchParameter expressions. Rows exist only for the current
-- version of live resources. Token rows reuse search_token (0001).
ALTER TABLE resources ADD COLUMN last_updated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated);

CREATE TABLE search_string (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    value_norm    TEXT NOT NULL, -- lowercase, accents removed
    value_exact   TEXT NOT NULL
);
CREATE INDEX search_string_lookup ON search_string (resource_type, param, value_norm);
CREATE INDEX search_string_resource ON search_string (resource_type, id);

CREATE TABLE search_reference (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    target_type   TEXT,
    target_id     TEXT,
    url           TEXT
);
CREATE INDEX search_reference_lookup ON search_reference (resource_type, param, target_id, target_type);
CREATE INDEX search_reference_target ON search_reference (target_type, target_id);
CREATE INDEX search_reference_resource ON search_reference (resource_type, id);

CREATE TABLE search_date (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    low           INTEGER NOT NULL, -- inclusive, microseconds since the epoch (UTC)
    high          INTEGER NOT NULL  -- exclusive
);
CREATE INDEX search_date_lookup ON search_date (resource_type, param, low, high);
CREATE INDEX search_date_resource ON search_date (resource_type, id);

CREATE TABLE search_number (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    value         REAL NOT NULL
);
CREATE INDEX search_number_lookup ON search_number (resource_type, param, value);
CREATE INDEX search_number_resource ON search_number (resource_type, id);

CREATE TABLE search_quantity (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT,
    code          TEXT,
    value         REAL NOT NULL
);
CREATE INDEX search_quantity_lookup ON search_quantity (resource_type, param, code, value);
CREATE INDEX search_quantity_resource ON search_quantity (resource_type, id);

CREATE TABLE search_uri (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    uri           TEXT NOT NULL
);
CREATE INDEX search_uri_lookup ON search_uri (resource_type, param, uri);
CREATE INDEX search_uri_resource ON search_uri (resource_type, id);

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
