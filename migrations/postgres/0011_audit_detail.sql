-- Issue #15: a record may carry a short text its actor gave with the action (a research
-- export's purpose). NULL for every other record: the hash of a record without one is
-- computed exactly as before (format 2), so earlier records verify unchanged.
ALTER TABLE audit_log ADD COLUMN detail TEXT;
