// Who saw what of the patient's records, and when; emergency (break-glass) access highlighted.

import { useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import type { AccessLogEntry } from '../api/types';

const ACTIONS: Record<string, string> = {
  read: 'Viewed',
  vread: 'Viewed a version',
  search: 'Searched',
  history: 'Viewed history',
  create: 'Added',
  update: 'Changed',
  patch: 'Changed',
  delete: 'Deleted',
  bundle: 'Batch',
  'break-glass': 'Emergency access opened',
  'consent-grant': 'Sharing granted',
  'consent-request': 'Access requested',
  'consent-accept': 'Request accepted',
  'consent-decline': 'Request declined',
  'consent-revoke': 'Sharing revoked',
};

export function actionLabel(entry: AccessLogEntry): string {
  return ACTIONS[entry.action] ?? entry.action;
}

/** Who did it: the account's display name, else its e-mail (both the server's `actor_name`),
 * else the platform itself; never a bare account id. */
export function actorLabel(entry: AccessLogEntry): string {
  if (entry.actor_name) return entry.actor_name;
  return entry.actor ? 'An account that was removed' : 'MediLink (system)';
}

export function AccessLogPage() {
  const client = useClient();
  const locale = userLocale();
  const log = useQuery({ queryKey: ['access-log'], queryFn: () => client.accessLog(), staleTime: 0 });
  return (
    <>
      <PageTitle actions={<button type="button" onClick={() => void log.refetch()}>Refresh</button>}>Access log</PageTitle>
      <Section title="Who accessed your records">
        <QueryState query={log} empty="Nobody has accessed your records yet." loadingLabel="Loading the access log…">
          {(entries) => {
            const emergencies = entries.filter((e) => e.break_glass).length;
            return (
              <>
                {emergencies ? (
                  <p className="notice notice-alert" role="note">
                    <Badge tone="bad">Emergency access</Badge> {emergencies} access{emergencies === 1 ? '' : 'es'} used break-glass: a clinician
                    opened your records without your consent, stating a reason.
                  </p>
                ) : null}
                <div className="table-wrap">
                  <table>
                    <caption className="visually-hidden">Access log</caption>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Who</th>
                        <th scope="col">What</th>
                        <th scope="col">Records</th>
                        <th scope="col">Result</th>
                      </tr>
                    </thead>
                    <tbody>
                      {entries.map((e) => (
                        <tr key={e.seq} className={e.break_glass ? 'row-alert' : undefined} data-testid={e.break_glass ? 'break-glass-entry' : 'access-entry'}>
                          <td>{formatDateTime(e.at, locale)}</td>
                          <td>
                            <span className="actor-name">{actorLabel(e)}</span> {e.role ? <span className="muted">({e.role})</span> : null}
                            {e.break_glass ? (
                              <>
                                {' '}
                                <Badge tone="bad">Emergency access</Badge>
                              </>
                            ) : null}
                          </td>
                          <td>{actionLabel(e)}</td>
                          <td>
                            {e.resource_types.length
                              ? e.resource_types.join(', ')
                              : (e.resource_type ?? '—')}
                            {e.resource_ids.length ? ` (${e.resource_ids.length})` : ''}
                          </td>
                          <td>{e.outcome < 400 ? 'Allowed' : e.outcome === 403 || e.outcome === 404 ? 'Refused' : `Error ${e.outcome}`}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </>
            );
          }}
        </QueryState>
      </Section>
    </>
  );
}
