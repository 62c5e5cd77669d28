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
      <PageTitle>Health summary</PageTitle>
      <Section title="You">
        <QueryState query={patient} loadingLabel="Loading your details…">
          {(p) => (
            <dl className="facts facts-inline">
              <dt>Name</dt>
              <dd data-testid="patient-name">{patientName(p)}</dd>
              <dt>Born</dt>
              <dd>{formatDate(p.birthDate, locale)}</dd>
              <dt>Patient ID</dt>
              <dd>
                <code data-testid="patient-id">{p.id}</code>
              </dd>
            </dl>
          )}
        </QueryState>
      </Section>
      <div className="grid-2">
        <Section title="Latest vital signs">
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
                <Empty>No vital signs recorded.</Empty>
              );
            }}
          </QueryState>
        </Section>
        <Section title="Recent lab results">
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
                    <Link to="/labs">All lab results</Link>
                  </li>
                </ul>
              ) : (
                <Empty>No lab results yet.</Empty>
              );
            }}
          </QueryState>
        </Section>
        <Section title="Active conditions">
          <QueryState query={conditions} empty="No conditions recorded.">
            {(list) => (
              <ul className="plain-list">
                {list.map((c) => (
                  <li key={c.id}>{codeText(c.code)}</li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title="Medications">
          <QueryState query={medications} empty="No medications recorded.">
            {(list) => (
              <ul className="plain-list">
                {list.map((m) => (
                  <li key={m.id}>{medicationName(m)}</li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title="Allergies">
          <QueryState query={allergies} empty="No known allergies recorded.">
            {(list) => (
              <ul className="plain-list">
                {list.map((a) => (
                  <li key={a.id}>
                    {codeText(a.code)} {a.criticality === 'high' ? <Badge tone="bad">High risk</Badge> : null}
                  </li>
                ))}
              </ul>
            )}
          </QueryState>
        </Section>
        <Section title="Who can see your records">
          <QueryState query={consents}>
            {(grants) => {
              const active = grants.filter((g) => g.status === 'active');
              const requests = grants.filter((g) => g.status === 'proposed');
              return (
                <>
                  {active.length ? (
                    <p>
                      {active.length} clinician{active.length === 1 ? '' : 's'} with access
                      {active.some((g) => g.break_glass) ? (
                        <>
                          {' '}
                          <Badge tone="bad">including emergency access</Badge>
                        </>
                      ) : null}
                      .
                    </p>
                  ) : (
                    <Empty>Nobody has access to your records.</Empty>
                  )}
                  {requests.length ? <p><Badge tone="warn">{requests.length} request{requests.length === 1 ? '' : 's'}</Badge> waiting for your answer.</p> : null}
                  <Link to="/consents">Manage sharing</Link>
                </>
              );
            }}
          </QueryState>
        </Section>
      </div>
    </>
  );
}
