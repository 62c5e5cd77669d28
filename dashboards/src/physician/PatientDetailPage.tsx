// One patient: demographics and consent status, timeline, vitals and lab results with trends,
// conditions, medications, prescribing with drug-interaction checks and the history of those
// checks, allergies, immunizations and document upload; without access, the request and
// break-glass panel.

import { useQuery } from '@tanstack/react-query';
import { useParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Empty, ErrorMessage, Loading, PageTitle, Section, isForbidden, isNotFound } from '../ui/components';
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
import { ageInYears, formatDate, patientName, statusLabel, userLocale } from '../fhir/format';
import { AccessPanel, ConsentStatus } from './AccessPanel';
import { DocumentsPanel } from './DocumentsPanel';
import { PrescribePanel } from './PrescribePanel';
import { CheckHistorySection } from './CheckHistory';
import { shares, useConsents } from './hooks';
import { translate as t, type MessageKey } from '../i18n/core';
import { LaunchMenu } from '../smart/LaunchMenu';

/** A section the patient did not share with this physician. */
function NotShared({ title, id }: { title: string; id: string }) {
  return (
    <Section title={title} id={id}>
      <Empty>{t('detail.notShared')}</Empty>
    </Section>
  );
}

const SECTIONS = [
  ['timeline', 'timeline.title'],
  ['vitals', 'clinical.vitals'],
  ['labs', 'nav.labs'],
  ['conditions', 'clinical.conditions'],
  ['medications', 'nav.medications'],
  ['prescribe', 'detail.prescribe'],
  ['interaction-history', 'detail.checks'],
  ['allergies', 'nav.allergies'],
  ['immunizations', 'nav.immunizations'],
  ['documents', 'nav.documents'],
] as const satisfies readonly (readonly [string, MessageKey])[];

export function PatientDetailPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const locale = userLocale();
  const patient = useQuery({ queryKey: ['fhir', 'Patient', id], queryFn: () => client.read<fhir4.Patient>('Patient', id) });
  const consents = useConsents();
  const allowed = patient.isSuccess && consents.isSuccess;
  // Sections outside the consent's scope are not even asked for (an empty answer would read as
  // "none recorded").
  const shared = (type: string) => consents.isSuccess && shares(consents.data, id, type);
  const observations = usePatientResources<fhir4.Observation>(id, 'Observation', allowed && shared('Observation'));
  const conditions = usePatientResources<fhir4.Condition>(id, 'Condition', allowed && shared('Condition'));
  const medications = usePatientResources<fhir4.MedicationRequest>(id, 'MedicationRequest', allowed && shared('MedicationRequest'));
  const allergies = usePatientResources<fhir4.AllergyIntolerance>(id, 'AllergyIntolerance', allowed && shared('AllergyIntolerance'));
  const immunizations = usePatientResources<fhir4.Immunization>(id, 'Immunization', allowed && shared('Immunization'));
  if (patient.isPending || consents.isPending) return <Loading label={t('detail.loading')} />;
  if (patient.isError) {
    if (isForbidden(patient.error) || isNotFound(patient.error)) {
      return (
        <>
          <PageTitle>
            {t('consent.patient')} {id}
          </PageTitle>
          <AccessPanel patientId={id} />
        </>
      );
    }
    return <ErrorMessage error={patient.error} title={t('detail.failed')} />;
  }
  const p = patient.data;
  const age = ageInYears(p.birthDate);
  return (
    <>
      <PageTitle actions={<LaunchMenu patientId={id} />}>{patientName(p)}</PageTitle>
      <Section title={t('consent.patient')}>
        <dl className="facts facts-inline">
          <dt>{t('summary.born')}</dt>
          <dd>
            {formatDate(p.birthDate, locale)}
            {age !== undefined ? ` (${t('detail.age', { count: age })})` : ''}
          </dd>
          <dt>{t('detail.gender')}</dt>
          <dd>{statusLabel(p.gender) || '—'}</dd>
          <dt>{t('summary.patientId')}</dt>
          <dd>
            <code>{p.id}</code>
          </dd>
        </dl>
        <ConsentStatus patientId={id} />
        <nav aria-label={t('detail.sections')} className="section-nav">
          <ul>
            {SECTIONS.map(([anchor, label]) => (
              <li key={anchor}>
                <a href={`#${anchor}`}>{t(label)}</a>
              </li>
            ))}
          </ul>
        </nav>
      </Section>
      <TimelineSection patientId={id} />
      {shared('Observation') ? <VitalsSection query={observations} /> : <NotShared title={t('clinical.vitals')} id="vitals" />}
      {shared('Observation') ? <LabsSection query={observations} /> : <NotShared title={t('nav.labs')} id="labs" />}
      {shared('Condition') ? <ConditionsSection query={conditions} /> : <NotShared title={t('clinical.conditions')} id="conditions" />}
      {shared('MedicationRequest') ? <MedicationsSection query={medications} /> : <NotShared title={t('nav.medications')} id="medications" />}
      <PrescribePanel patientId={id} />
      <CheckHistorySection patientId={id} />
      {shared('AllergyIntolerance') ? <AllergiesSection query={allergies} /> : <NotShared title={t('nav.allergies')} id="allergies" />}
      {shared('Immunization') ? <ImmunizationsSection query={immunizations} /> : <NotShared title={t('nav.immunizations')} id="immunizations" />}
      <DocumentsPanel patientId={id} />
    </>
  );
}
