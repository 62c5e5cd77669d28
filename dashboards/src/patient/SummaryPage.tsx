// The patient's health summary: who they are, latest vital signs, active conditions and
// medications, allergies, and who has access now.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useSession } from '../ui/session';
import { Badge, Empty, PageTitle, QueryState, Section } from '../ui/components';
import { splitObservations, usePatientResources } from '../ui/clinical';
import {
  codeText,
  flagLabel,
  formatDate,
  observationDate,
  observationFlag,
  observationSeries,
  observationValue,
  patientName,
  userLocale,
} from '../fhir/format';
import { medicationName } from '../fhir/timeline';
import { granteeLabel } from './ConsentsPage';
import { translate as t } from '../i18n/core';

export function SummaryPage() {
  const { user, client } = useSession();
  const id = user?.patient_id ?? undefined;
  const locale = userLocale();
  const patient = useQuery({ queryKey: ['fhir', 'Patient', id], enabled: Boolean(id), queryFn: () => client.read<fhir4.Patient>('Patient', id!) });
  const observations = usePatientResources<fhir4.Observation>(id, 'Observation');
  const conditions = usePatientResources<fhir4.Condition>(id, 'Condition');
  const medications = usePatientResources<fhir4.MedicationRequest>(id, 'MedicationRequest');
  const allergies = usePatientResources<fhir4.AllergyIntolerance>(id, 'AllergyIntolerance');
  const consents = useQuery({ queryKey: ['consents'], queryFn: () => client.consents(), staleTime: 0 });
  return (
    <>
      <PageTitle>{t('summary.title')}</PageTitle>
      <Section title={t('summary.you')}>
        <QueryState query={patient} loadingLabel={t('summary.loading')}>
          {(p) => (
            <dl className="facts facts-inline">
              <dt>{t('summary.name')}</dt>
              <dd data-testid="patient-name">{patientName(p)}</dd>
              <dt>{t('summary.born')}</dt>
              <dd>{formatDate(p.birthDate, locale)}</dd>
              <dt>{t('summary.patientId')}</dt>
              <dd>
                <code data-testid="patient-id">{p.id}</code>
              </dd>
            </dl>
          )}
        </QueryState>
      </Section>
      <div className="grid-2">
        <Section title={t('summary.vitals')}>
          <QueryState query={observations}>
            {(all) => {
              const latest = observationSeries(splitObservations(all).vitals).map((s) => s.latest);
              return latest.length ? (
                <ul className="plain-list">
                  {latest.map((o) => (
                    <li key={o.id}>
                      <strong>{codeText(o.code)}</strong>: <span className="value">{observationValue(o, locale)}</span>{' '}
                      <span className="muted">{formatDate(observationDate(o), locale)}</span>
                    </li>
                  ))}
                </ul>
              ) : (
                <Empty>{t('clinical.noVitals')}</Empty>
              );
            }}
          </QueryState>
        </Section>
        <Section title={t('summary.labs')}>
          <QueryState query={observations}>
            {(all) => {
              const labs = splitObservations(all).labs.slice(0, 5);
              return labs.length ? (
                <ul className="plain-list">
                  {labs.map((o) => {
                    const flag = observationFlag(o);
                    return (
                      <li key={o.id}>
                        <strong>{codeText(o.code)}</strong>: <span className="value">{observationValue(o, locale)}</span>{' '}
                        {flag && flag !== 'normal' ? <Badge tone="bad">{flagLabel(flag)}</Badge> : null}{' '}
                        <span className="muted">{formatDate(observationDate(o), locale)}</span>
                      </li>
                    );
                  })}
                  <li>
                    <Link to="/labs">{t('summary.allLabs')}</Link>
                  </li>
                </ul>
              ) : (
                <Empty>{t('clinical.noLabs')}</Empty>
              );
            }}
          </QueryState>
        </Section>
        <Section title={t('summary.conditions')}>
          <QueryState query={conditions} empty={t('clinical.noConditions')}>
            {(list) => (
              <ul className="plain-list">
                {list.map((c) => (
                  <li key={c.id}>{codeText(c.code)}</li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title={t('nav.medications')}>
          <QueryState query={medications} empty={t('clinical.noMedications')}>
            {(list) => (
              <ul className="plain-list">
                {list.map((m) => (
                  <li key={m.id}>{medicationName(m)}</li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title={t('nav.allergies')}>
          <QueryState query={allergies} empty={t('clinical.noAllergies')}>
            {(list) => (
              <ul className="plain-list">
                {list.map((a) => (
                  <li key={a.id}>
                    {codeText(a.code)} {a.criticality === 'high' ? <Badge tone="bad">{t('summary.highRisk')}</Badge> : null}
                  </li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title={t('summary.access')}>
          <QueryState query={consents}>
            {(grants) => {
              const active = grants.filter((g) => g.status === 'active');
              const requests = grants.filter((g) => g.status === 'proposed');
              return (
                <>
                  {active.length ? (
                    <>
                      <p>{t('summary.withAccess', { count: active.length })}</p>
                      <ul className="plain-list" data-testid="who-has-access">
                        {active.map((g) => (
                          <li key={g.id}>
                            {granteeLabel(g)} {g.break_glass ? <Badge tone="bad">{t('consent.emergency')}</Badge> : null}
                          </li>
                        ))}
                      </ul>
                    </>
                  ) : (
                    <Empty>{t('summary.nobody')}</Empty>
                  )}
                  {requests.length ? (
                    <p>
                      <Badge tone="warn">{t('summary.requests', { count: requests.length })}</Badge> {t('summary.waiting')}
                    </p>
                  ) : null}
                  <Link to="/consents">{t('summary.manage')}</Link>
                </>
              );
            }}
          </QueryState>
        </Section>
      </div>
    </>
  );
}
