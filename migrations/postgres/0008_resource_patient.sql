-- `resources.patient` summarizes a live resource's `_patient` index rows (migration 0007) so that
-- the consent restriction decides most rows without reading them: NULL when the resource names
-- no patient, the patient's id when it names exactly one, '*' (never a valid id) when it names
-- more than one; only '*' rows consult `search_reference`. Written with the index rows on
-- every write (`backend/sql/mod.rs`).
ALTER TABLE resources ADD COLUMN patient TEXT;
UPDATE resources SET patient = (
    SELECT CASE WHEN COUNT(DISTINCT s.target_id) = 1 THEN MIN(s.target_id)
                WHEN COUNT(DISTINCT s.target_id) > 1 THEN '*' END
    FROM search_reference s
    WHERE s.rid = resources.rid AND s.param = '_patient'
) WHERE deleted = FALSE;

-- A restricted search with no narrower criterion finds the permitted patients' resources
-- through this index (the '*' rows too).
CREATE INDEX resources_type_patient ON resources (resource_type, patient);
