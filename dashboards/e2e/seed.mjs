// Synthetic records a patient keeps in their own compartment (home measurements and what
// their previous clinic handed over), written through the FHIR API with the patient's token.

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const category = (code) => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] }];

function quantity(patient, kind, code, display, value, unit, date, range) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: category(kind),
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: UCUM, code: unit },
    ...(range ? { referenceRange: [{ low: { value: range[0], unit, system: UCUM, code: unit }, high: { value: range[1], unit, system: UCUM, code: unit } }] } : {}),
  };
}

function bloodPressure(patient, systolic, diastolic, date) {
  const part = (code, display, value) => ({
    code: { coding: [{ system: LOINC, code, display }] },
    valueQuantity: { value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
  });
  return {
    resourceType: 'Observation',
    status: 'final',
    category: category('vital-signs'),
    code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }], text: 'Blood pressure' },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: date,
    component: [part('8480-6', 'Systolic blood pressure', systolic), part('8462-4', 'Diastolic blood pressure', diastolic)],
  };
}

export function patientRecords(patient) {
  const subject = { reference: `Patient/${patient}` };
  return [
    quantity(patient, 'vital-signs', '29463-7', 'Body weight', 81.2, 'kg', '2024-01-10'),
    quantity(patient, 'vital-signs', '29463-7', 'Body weight', 79.8, 'kg', '2024-03-12'),
    quantity(patient, 'vital-signs', '29463-7', 'Body weight', 78.5, 'kg', '2024-05-14'),
    quantity(patient, 'vital-signs', '8867-4', 'Heart rate', 72, '/min', '2024-01-10', [60, 100]),
    quantity(patient, 'vital-signs', '8867-4', 'Heart rate', 68, '/min', '2024-05-14', [60, 100]),
    bloodPressure(patient, 138, 88, '2024-01-10'),
    bloodPressure(patient, 131, 84, '2024-03-12'),
    bloodPressure(patient, 126, 80, '2024-05-14'),
    quantity(patient, 'laboratory', '2345-7', 'Glucose', 112, 'mg/dL', '2024-01-08', [70, 99]),
    quantity(patient, 'laboratory', '2345-7', 'Glucose', 101, 'mg/dL', '2024-03-09', [70, 99]),
    quantity(patient, 'laboratory', '4548-4', 'Hemoglobin A1c', 6.3, '%', '2024-01-08', [4, 5.6]),
    {
      resourceType: 'Condition',
      subject,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '714628002', display: 'Prediabetes' }], text: 'Prediabetes' },
      onsetDateTime: '2023-11-02',
      recordedDate: '2023-11-02',
    },
    {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject,
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '860975', display: 'Metformin 500 mg oral tablet' }] },
      authoredOn: '2024-01-12',
      dosageInstruction: [{ text: '500 mg twice a day with meals' }],
    },
    {
      resourceType: 'AllergyIntolerance',
      patient: subject,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      criticality: 'high',
      code: { coding: [{ system: 'http://snomed.info/sct', code: '764146007', display: 'Penicillin' }], text: 'Penicillin' },
      reaction: [{ manifestation: [{ text: 'Hives' }] }],
      recordedDate: '2015-06-01',
    },
    {
      resourceType: 'Immunization',
      status: 'completed',
      patient: subject,
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140', display: 'Influenza, seasonal, injectable' }] },
      occurrenceDateTime: '2023-10-15',
    },
  ];
}

/** Writes the records as the patient; returns how many were created. */
export async function seedPatient(base, email, password, patient) {
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!login.ok) throw new Error(`patient login for seeding: ${login.status} ${await login.text()}`);
  const { access_token: token } = await login.json();
  let created = 0;
  for (const resource of patientRecords(patient)) {
    const response = await fetch(`${base}/fhir/R4/${resource.resourceType}`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      body: JSON.stringify(resource),
    });
    if (response.status !== 201) throw new Error(`seeding ${resource.resourceType}: ${response.status} ${await response.text()}`);
    created += 1;
  }
  return created;
}
