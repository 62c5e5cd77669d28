-- Every reference to a Patient, anywhere in a resource, is indexed in `search_reference` under
-- the parameter `_patient` (and a Patient under its own id): the consent restriction reads it.
-- The rows of resources stored before this migration are written by the migration runner
-- (`backend/sql/migrate.rs`, `backfill_patients`) in this migration's transaction.
SELECT 1;

-- The restriction asks, per candidate row, whether the resource names a patient outside the
-- permitted set: a partial index on just these rows answers it with one seek by `rid`.
CREATE INDEX search_reference_patient ON search_reference (rid, target_id) WHERE param = '_patient';
