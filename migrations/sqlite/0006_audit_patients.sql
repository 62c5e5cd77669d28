-- Issue #11: an audit record names every patient whose data the request returned or changed
-- (decided by the consent guard, not derived from the URL), and the types it returned.
-- `format` 1 marks the records written before this migration: they keep their canonical
-- form (one `patient_id`) so that the hash chain still verifies; format 2 records hold
-- `patients` (a JSON object: patient id -> the `Type/id`s of theirs the request returned or
-- changed) and `resource_types` (a JSON array), and leave `patient_id` NULL.
ALTER TABLE audit_log ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN patients TEXT;
ALTER TABLE audit_log ADD COLUMN resource_types TEXT;

-- Every patient a record names, so that a filter by patient finds every record naming them.
CREATE TABLE audit_log_patients (
    patient_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (patient_id, seq)
) WITHOUT ROWID;
INSERT INTO audit_log_patients (patient_id, seq)
SELECT patient_id, seq FROM audit_log WHERE patient_id IS NOT NULL;
CREATE TRIGGER audit_log_patients_no_update BEFORE UPDATE ON audit_log_patients
BEGIN SELECT RAISE(ABORT, 'audit_log_patients is append-only'); END;
CREATE TRIGGER audit_log_patients_no_delete BEFORE DELETE ON audit_log_patients
BEGIN SELECT RAISE(ABORT, 'audit_log_patients is append-only'); END;
