// The physician's dashboard: the id patients grant access to, recent patients (those with
// access in force), pending access requests and documents still being processed.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useSession } from '../ui/session';
import { FALLBACK_POLL_MS } from '../fhir/live';
import { Badge, Empty, ErrorMessage, Loading, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { formatDate, formatDateTime, patientName, userLocale } from '../fhir/format';
import { usePatients, useConsents } from './hooks';
import { JobStatusBadge } from './DocumentsPanel';
import type { Grant } from '../api/types';
import { translate as t } from '../i18n/core';

export function DashboardPage() {
  const { user, client, live } = useSession();
  const consents = useConsents();
  const locale = userLocale();
  const active = (consents.data ?? []).filter((g) => g.status === 'active');
  const patientIds = [...new Set(active.map((g) => g.patient))];
  const patients = usePatients(patientIds);
  const jobs = useQuery({
    queryKey: ['documents', 'jobs'],
    queryFn: () => client.documentJobs(),
    // Live updates say when a job changes; polled only while the socket is down.
    refetchInterval: (query) =>
      !live && query.state.data?.some((j) => j.status === 'pending' || j.status === 'processing') ? FALLBACK_POLL_MS : false,
  });
  const grantOf = (id: string): Grant | undefined => active.find((g) => g.patient === id && !g.break_glass) ?? active.find((g) => g.patient === id);
  return (
    <>
      <PageTitle>{t('nav.dashboard')}</PageTitle>
      <div className="grid-2">
        <Section title={t('dash.id')}>
          <p>{t('dash.id.text')}</p>
          <p>
            <code className="share-id" data-testid="clinician-id">
              {user?.id}
            </code>
          </p>
        </Section>
        <Section title={t('dash.documents')}>
          {jobs.isPending ? (
            <Loading label={t('dash.loadingDocuments')} />
          ) : jobs.isError ? (
            isNotFound(jobs.error) ? (
              <Empty>{t('documents.unavailable')}</Empty>
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
                      <JobStatusBadge status={job.status} /> {job.file_name ?? t('documents.untitled')}{' '}
                      {job.patient ? <Link to={`/patients/${job.patient.replace(/^Patient\//, '')}#documents`}>{t('dash.openPatient')}</Link> : null}{' '}
                      <span className="muted">{formatDateTime(job.created, locale)}</span>
                    </li>
                  ))}
                </ul>
              ) : (
                <Empty>{t('dash.noDocuments')}</Empty>
              );
            })()
          )}
        </Section>
      </div>
      <Section title={t('dash.recent')}>
        <QueryState query={consents} loadingLabel={t('dash.loadingPatients')}>
          {() =>
            patientIds.length === 0 ? (
              <Empty>
                {t('dash.noPatients')} <Link to="/patients">{t('nav.patients')}</Link>
              </Empty>
            ) : (
              <QueryState query={patients} empty={t('dash.noneToShow')}>
                {(list) => (
                  <div className="table-wrap">
                    <table>
                      <caption className="visually-hidden">{t('dash.caption')}</caption>
                      <thead>
                        <tr>
                          <th scope="col">{t('consent.patient')}</th>
                          <th scope="col">{t('summary.born')}</th>
                          <th scope="col">{t('dash.access')}</th>
                          <th scope="col">{t('consent.until')}</th>
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
                              <td>{grant?.break_glass ? <Badge tone="bad">{t('consent.emergency')}</Badge> : <Badge tone="good">{t('dash.consent')}</Badge>}</td>
                              <td>{grant?.end ? formatDateTime(grant.end, locale) : t('dash.noEnd')}</td>
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
      <Section title={t('dash.requests')}>
        <QueryState query={consents}>
          {(grants) => {
            const proposed = grants.filter((g) => g.status === 'proposed' && g.initiator === 'physician');
            return proposed.length ? (
              <ul className="plain-list">
                {proposed.map((g) => (
                  <li key={g.id}>
                    {t('consent.patientNotShared')} <code>{g.patient}</code> — {t('consent.requestedAt', { when: formatDateTime(g.start, locale) })}
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>{t('consents.noPending')}</Empty>
            );
          }}
        </QueryState>
      </Section>
    </>
  );
}
