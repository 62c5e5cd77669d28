// Settings → Connected apps: the SMART apps the user allowed (which scopes, since when, last
// used) and Revoke, which forgets the decision and ends the app's tokens. A server without
// SMART (404) shows nothing.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { FormError, QueryState, Section, isNotFound } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import { translate as t } from '../i18n/core';
import { smartApi, type ConnectedApp } from './api';
import { describeScope } from './scopes';

export function ConnectedApps() {
  const client = useClient();
  const queryClient = useQueryClient();
  const apps = useQuery({ queryKey: ['smart', 'authorizations'], queryFn: () => smartApi.authorizations(client), retry: false });
  const revoke = useMutation({
    mutationFn: (app: ConnectedApp) => smartApi.revoke(client, app.client_id),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['smart', 'authorizations'] }),
  });
  if (apps.isError && isNotFound(apps.error)) return null;
  return (
    <Section title={t('smart.connected')} id="connected-apps">
      <p className="muted">{t('smart.connected.intro')}</p>
      <FormError error={revoke.error} />
      <QueryState query={apps} empty={t('smart.connected.none')} loadingLabel={t('common.loading')}>
        {(list) => (
          <ul className="plain-list connected-apps" data-testid="connected-apps">
            {list.map((app) => (
              <li key={app.client_id} className="card connected-app">
                <h3>{app.client_name}</h3>
                <p className="muted">
                  {t('smart.connected.since', { when: formatDateTime(app.granted_at) })}{' '}
                  {app.last_used_at ? t('smart.connected.used', { when: formatDateTime(app.last_used_at) }) : t('smart.connected.unused')}
                </p>
                <ul>
                  {app.scopes.map((scope) => (
                    <li key={scope}>{describeScope(scope)}</li>
                  ))}
                </ul>
                <button
                  type="button"
                  className="danger"
                  disabled={revoke.isPending}
                  aria-label={t('smart.revokeOf', { app: app.client_name })}
                  onClick={() => revoke.mutate(app)}
                >
                  {t('smart.revoke')}
                </button>
              </li>
            ))}
          </ul>
        )}
      </QueryState>
    </Section>
  );
}
