// The physician's dashboard: the id patients grant access to, recent patients (those with
// access in force), pending access requests and documents still being processed.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useSession } from '../ui/session';
import { Badge, Empty, ErrorMessage, Loading, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { formatDate, formatDateTime, patientName, userLocale } from '../fhir/format';
import { usePatients, useConsents } from './hooks';
import { JobStatusBadge } from './DocumentsPanel';
import type { Grant } from '../api/types';

export function DashboardPage() {
  const { user, client } = useSession();
  const consents = useConsents();
  const locale = userLocale();
  const active = (consents.data ?? []).filter((g) => g.status === 'active');
  const patientIds = [...new Set(active.map((g) => g.patient))];
  const patients = usePatients(patientIds);
  const jobs = useQuery({
    queryKey: ['documents', 'jobs'],
    queryFn: () => client.documentJobs(),
    refetchInterval: (query) => (query.state.data?.some((j) => j.status === 'pending' || j.status === 'processing') ? 2000 : false),
  });
  const grantOf = (id: string): Grant | undefined => active.find((g) => g.patient === id && !g.break_glass) ?? active.find((g) => g.patient === id);
  return (
    <>
      <PageTitle>Dashboard</PageTitle>
      <div className="grid-2">
        <Section title="Your clinician ID">
          <p>Patients grant you access to their records with this ID:</p>
          <p>
            <code className="share-id" data-testid="clinician-id">
              {user?.id}
            </code>
          </p>
        </Section>
        <Section title="Pending documents">
          {jobs.isPending ? (
            <Loading label="Loading documents…" />
          ) : jobs.isError ? (
            isNotFound(jobs.error) ? (
              <Empty>Document processing is not available on this server.</Empty>
            ) : (
              <ErrorMessage error={jobs.error} />
            )
          ) : (
            (() => {
              const pending = jobs.data.filter((j) => j.status !== 'completed' && j.status !== 'cancelled');
              return pending.length ? (
                <ul className="plain-list">
                  {pending.slice(0, 10).map((job) => (
                    <li key={job.id}>
                      <JobStatusBadge status={job.status} /> {job.file_name ?? 'Document'}{' '}
                      {job.patient ? <Link to={`/patients/${job.patient.replace(/^Patient\//, '')}#documents`}>open patient</Link> : null}{' '}
                      <span className="muted">{formatDateTime(job.created, locale)}</span>
                    </li>
                  ))}
                </ul>
              ) : (
                <Empty>No documents waiting.</Empty>
              );
            })()
          )}
        </Section>
      </div>
      <Section title="Recent patients">
        <QueryState query={consents} loadingLabel="Loading your patients…">
          {() =>
            patientIds.length === 0 ? (
              <Empty>
                No patient has shared records with you yet. Share your clinician ID, or find a patient under <Link to="/patients">Patients</Link>.
              </Empty>
            ) : (
              <QueryState query={patients} empty="No patients to show.">
                {(list) => (
                  <div className="table-wrap">
                    <table>
                      <caption className="visually-hidden">Patients with access in force</caption>
                      <thead>
                        <tr>
                          <th scope="col">Patient</th>
                          <th scope="col">Born</th>
                          <th scope="col">Access</th>
                          <th scope="col">Until</th>
                        </tr>
                      </thead>
                      <tbody>
                        {list.map((p) => {
                          const grant = grantOf(p.id ?? '');
                          return (
                            <tr key={p.id}>
                              <td>
                                <Link to={`/patients/${p.id}`}>{patientName(p)}</Link>
                              </td>
                              <td>{formatDate(p.birthDate, locale)}</td>
                              <td>{grant?.break_glass ? <Badge tone="bad">Emergency access</Badge> : <Badge tone="good">Consent</Badge>}</td>
                              <td>{grant?.end ? formatDateTime(grant.end, locale) : 'No end date'}</td>
                            </tr>
                          );
                        })}
                      </tbody>
                    </table>
                  </div>
                )}
              </QueryState>
            )
          }
        </QueryState>
      </Section>
      <Section title="Access requests awaiting patients">
        <QueryState query={consents}>
          {(grants) => {
            const proposed = grants.filter((g) => g.status === 'proposed' && g.initiator === 'physician');
            return proposed.length ? (
              <ul className="plain-list">
                {proposed.map((g) => (
                  <li key={g.id}>
                    Patient <code>{g.patient}</code> — requested {formatDateTime(g.start, locale)}
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>No open requests.</Empty>
            );
          }}
        </QueryState>
      </Section>
    </>
  );
}
