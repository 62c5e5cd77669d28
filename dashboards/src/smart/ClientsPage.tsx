// Admin → SMART apps: every registered client (kind, status, redirect and launch URIs, the
// scopes it may ask for), approve a pending or suspended one, suspend an approved one.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import { translate as t } from '../i18n/core';
import { smartApi, type SmartClient } from './api';

export function ClientsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const clients = useQuery({ queryKey: ['admin', 'smart', 'clients'], queryFn: () => smartApi.clients(client) });
  const change = useMutation({
    mutationFn: ({ app, action }: { app: SmartClient; action: 'approve' | 'suspend' }) => smartApi.setStatus(client, app.client_id, action),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['admin', 'smart', 'clients'] }),
  });
  return (
    <>
      <PageTitle>{t('smart.clients.title')}</PageTitle>
      <Section title={t('smart.clients.registered')} id="smart-clients">
        <p>{t('smart.clients.intro')}</p>
        <FormError error={change.error} />
        <QueryState query={clients} empty={t('smart.clients.none')}>
          {(list) => (
            <div className="table-wrap">
              <table data-testid="smart-clients">
                <caption className="visually-hidden">{t('smart.clients.registered')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('smart.clients.app')}</th>
                    <th scope="col">{t('smart.clients.kind')}</th>
                    <th scope="col">{t('adm.col.state')}</th>
                    <th scope="col">{t('smart.clients.uris')}</th>
                    <th scope="col">{t('smart.clients.scope')}</th>
                    <th scope="col">{t('adm.col.created')}</th>
                    <th scope="col">{t('adm.col.actions')}</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((app) => (
                    <tr key={app.client_id}>
                      <th scope="row">
                        {app.name}
                        <br />
                        <code className="muted">{app.client_id}</code>
                      </th>
                      <td>{t(`smart.kind.${app.kind}`)}</td>
                      <td>
                        <Badge tone={app.status === 'approved' ? 'good' : app.status === 'pending' ? 'warn' : 'bad'}>{t(`smart.status.${app.status}`)}</Badge>
                      </td>
                      <td>
                        <ul className="plain-list">
                          {app.redirect_uris.map((uri) => (
                            <li key={uri}>
                              <code>{uri}</code>
                            </li>
                          ))}
                          {app.launch_uri ? (
                            <li>
                              {t('smart.clients.launchUri')} <code>{app.launch_uri}</code>
                            </li>
                          ) : null}
                        </ul>
                      </td>
                      <td>
                        <code>{app.scope}</code>
                      </td>
                      <td className="num">{formatDateTime(app.created_at)}</td>
                      <td>
                        {app.status === 'approved' ? (
                          <button type="button" className="danger" disabled={change.isPending} aria-label={t('smart.clients.suspendOf', { app: app.name })} onClick={() => change.mutate({ app, action: 'suspend' })}>
                            {t('adm.action.suspend')}
                          </button>
                        ) : (
                          <button type="button" className="primary" disabled={change.isPending} aria-label={t('smart.clients.approveOf', { app: app.name })} onClick={() => change.mutate({ app, action: 'approve' })}>
                            {t('adm.action.approve')}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryState>
      </Section>
    </>
  );
}
