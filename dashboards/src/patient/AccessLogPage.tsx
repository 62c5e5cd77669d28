// Who saw what of the patient's records, and when; emergency (break-glass) access highlighted.

import { useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import type { AccessLogEntry } from '../api/types';
import { translate as t, type MessageKey } from '../i18n/core';
import { typeLabel } from '../physician/SearchPage';
import { smartApi } from '../smart/api';

const ACTIONS: Record<string, MessageKey> = {
  read: 'log.action.read',
  vread: 'log.action.vread',
  search: 'log.action.search',
  history: 'log.action.history',
  create: 'log.action.create',
  update: 'log.action.update',
  patch: 'log.action.update',
  delete: 'log.action.delete',
  bundle: 'log.action.bundle',
  'break-glass': 'log.action.breakGlass',
  'consent-grant': 'log.action.grant',
  'consent-request': 'log.action.request',
  'consent-accept': 'log.action.accept',
  'consent-decline': 'log.action.decline',
  'consent-revoke': 'log.action.revoke',
};

export function actionLabel(entry: AccessLogEntry): string {
  const key = ACTIONS[entry.action];
  return key ? t(key) : entry.action;
}

const ROLES: Record<string, MessageKey> = {
  patient: 'role.patient',
  physician: 'role.physician',
  admin: 'role.admin',
  researcher: 'role.researcher',
};

export function roleLabel(role: string | null | undefined): string {
  if (!role) return '';
  const key = ROLES[role];
  return key ? t(key) : role;
}

/** Who did it: the account's display name, else its e-mail (both the server's `actor_name`),
 * else the platform itself; never a bare account id. */
export function actorLabel(entry: AccessLogEntry): string {
  if (entry.actor_name) return entry.actor_name;
  return entry.actor ? t('log.removed') : t('log.system');
}

/** The names of the SMART apps the patient connected, by client id (an app since revoked: its id). */
function useAppNames(): (clientId: string) => string {
  const client = useClient();
  const apps = useQuery({ queryKey: ['smart', 'authorizations'], queryFn: () => smartApi.authorizations(client), retry: false });
  return (clientId) => apps.data?.find((app) => app.client_id === clientId)?.client_name ?? clientId;
}

export function AccessLogPage() {
  const client = useClient();
  const locale = userLocale();
  const log = useQuery({ queryKey: ['access-log'], queryFn: () => client.accessLog(), staleTime: 0 });
  const appName = useAppNames();
  return (
    <>
      <PageTitle actions={<button type="button" onClick={() => void log.refetch()}>{t('log.refresh')}</button>}>{t('log.title')}</PageTitle>
      <Section title={t('log.who')}>
        <QueryState query={log} empty={t('log.none')} loadingLabel={t('log.loading')}>
          {(entries) => {
            const emergencies = entries.filter((e) => e.break_glass).length;
            return (
              <>
                {emergencies ? (
                  <p className="notice notice-alert" role="note">
                    <Badge tone="bad">{t('consent.emergency')}</Badge> {t('log.emergencies', { count: emergencies })}
                  </p>
                ) : null}
                <div className="table-wrap">
                  <table>
                    <caption className="visually-hidden">{t('log.title')}</caption>
                    <thead>
                      <tr>
                        <th scope="col">{t('log.col.when')}</th>
                        <th scope="col">{t('log.col.who')}</th>
                        <th scope="col">{t('log.col.what')}</th>
                        <th scope="col">{t('log.col.records')}</th>
                        <th scope="col">{t('log.col.result')}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {entries.map((e) => (
                        <tr key={e.seq} className={e.break_glass ? 'row-alert' : undefined} data-testid={e.break_glass ? 'break-glass-entry' : 'access-entry'}>
                          <td>{formatDateTime(e.at, locale)}</td>
                          <td>
                            <span className="actor-name">{actorLabel(e)}</span> {e.role ? <span className="muted">({roleLabel(e.role)})</span> : null}
                            {e.app ? (
                              <span className="muted" data-testid="via-app">
                                {' '}
                                {t('log.viaApp', { app: appName(e.app) })}
                              </span>
                            ) : null}
                            {e.break_glass ? (
                              <>
                                {' '}
                                <Badge tone="bad">{t('consent.emergency')}</Badge>
                              </>
                            ) : null}
                          </td>
                          <td>{actionLabel(e)}</td>
                          <td>
                            {e.resource_types.length
                              ? e.resource_types.map((type) => typeLabel(type, t)).join(', ')
                              : e.resource_type
                                ? typeLabel(e.resource_type, t)
                                : '—'}
                            {e.resource_ids.length ? ` (${e.resource_ids.length})` : ''}
                          </td>
                          <td>{e.outcome < 400 ? t('log.allowed') : e.outcome === 403 || e.outcome === 404 ? t('log.refused') : t('log.failed', { status: String(e.outcome) })}</td>
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
