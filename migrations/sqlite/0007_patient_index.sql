-- Every reference to a Patient, anywhere in a resource, is indexed in `search_reference` under
-- the parameter `_patient` (and a Patient under its own id): the consent restriction reads it.
-- The rows of resources stored before this migration are written by the migration runner
-- (`backend/sql/migrate.rs`, `backfill_patients`) in this migration's transaction.
SELECT 1;

-- No extra index on SQLite: `search_reference_rid` of a WITHOUT ROWID table carries the key
-- columns (rid, param, target_id, …), so the restriction's per-row question is one seek already.
