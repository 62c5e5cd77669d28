// The patient's own records, one page per kind.

import { useSession } from '../ui/session';
import { PageTitle } from '../ui/components';
import {
  AllergiesSection,
  ConditionsSection,
  ImmunizationsSection,
  LabsSection,
  MedicationsSection,
  TimelineSection,
  VitalsSection,
  usePatientResources,
} from '../ui/clinical';
import { translate as t } from '../i18n/core';

function usePatientId(): string | undefined {
  return useSession().user?.patient_id ?? undefined;
}

export function RecordsPage() {
  const id = usePatientId();
  const observations = usePatientResources<fhir4.Observation>(id, 'Observation');
  const conditions = usePatientResources<fhir4.Condition>(id, 'Condition');
  return (
    <>
      <PageTitle>{t('records.title')}</PageTitle>
      {id ? <TimelineSection patientId={id} /> : null}
      <VitalsSection query={observations} />
      <ConditionsSection query={conditions} />
    </>
  );
}

export function MedicationsPage() {
  const medications = usePatientResources<fhir4.MedicationRequest>(usePatientId(), 'MedicationRequest');
  return (
    <>
      <PageTitle>{t('nav.medications')}</PageTitle>
      <MedicationsSection query={medications} />
    </>
  );
}

export function LabsPage() {
  const observations = usePatientResources<fhir4.Observation>(usePatientId(), 'Observation');
  return (
    <>
      <PageTitle>{t('nav.labs')}</PageTitle>
      <LabsSection query={observations} />
    </>
  );
}

export function AllergiesPage() {
  const allergies = usePatientResources<fhir4.AllergyIntolerance>(usePatientId(), 'AllergyIntolerance');
  return (
    <>
      <PageTitle>{t('nav.allergies')}</PageTitle>
      <AllergiesSection query={allergies} />
    </>
  );
}

export function ImmunizationsPage() {
  const immunizations = usePatientResources<fhir4.Immunization>(usePatientId(), 'Immunization');
  return (
    <>
      <PageTitle>{t('nav.immunizations')}</PageTitle>
      <ImmunizationsSection query={immunizations} />
    </>
  );
}
