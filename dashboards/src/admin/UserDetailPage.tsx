// One account: who it is, its sessions and lockout, its actions, and its recent activity.

import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import { AuditTable } from './AuditTable';
import { UserActions } from './UserActions';
import { roleName, statusBadge } from './UsersPage';
import { translate as t } from '../i18n/core';
import { userLabel } from './hooks';

export function UserDetailPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const detail = useQuery({ queryKey: ['admin', 'user', id], queryFn: () => client.adminUser(id) });
  if (detail.isError && isNotFound(detail.error)) {
    return (
      <>
        <PageTitle>{t('adm.user.notFound')}</PageTitle>
        <p className="card">
          {t('adm.user.noSuch', { id })} <Link to="/admin/users">{t('adm.user.back')}</Link>
        </p>
      </>
    );
  }
  return (
    <QueryState query={detail} loadingLabel={t('adm.user.loading')}>
      {({ user, created_at, last_sign_in_at, active_sessions, locked, recent_activity }) => (
        <>
          <PageTitle actions={<Link to="/admin/users">{t('adm.user.all')}</Link>}>{userLabel(user)}</PageTitle>
          <Section title={t('adm.user.account')}>
            <dl className="facts">
              <dt>{t('adm.col.email')}</dt>
              <dd>{user.email}</dd>
              <dt>{t('adm.col.role')}</dt>
              <dd>{roleName(user.role)}</dd>
              <dt>{t('adm.col.status')}</dt>
              <dd>{statusBadge(user.status)}</dd>
              <dt>{t('adm.user.signingIn')}</dt>
              <dd>{locked ? <Badge tone="bad">{t('adm.user.locked')}</Badge> : <Badge tone="good">{t('adm.user.notLocked')}</Badge>}</dd>
              <dt>{t('adm.user.totp')}</dt>
              <dd>{user.totp_enabled ? t('adm.on') : t('adm.off')}</dd>
              <dt>{t('adm.col.created')}</dt>
              <dd>{formatDateTime(created_at)}</dd>
              <dt>{t('adm.user.lastSignIn')}</dt>
              <dd>{last_sign_in_at ? formatDateTime(last_sign_in_at) : t('adm.user.never')}</dd>
              <dt>{t('adm.user.sessions')}</dt>
              <dd>{active_sessions}</dd>
              {user.patient_id ? (
                <>
                  <dt>{t('adm.user.record')}</dt>
                  <dd>
                    <code>{user.patient_id}</code>
                  </dd>
                </>
              ) : null}
              <dt>{t('adm.user.id')}</dt>
              <dd>
                <code data-testid="user-id">{user.id}</code>
              </dd>
            </dl>
          </Section>
          <Section title={t('adm.col.actions')}>
            <UserActions user={user} unlock={locked || user.status !== 'pending'} />
          </Section>
          <Section title={t('adm.user.recent')}>
            {recent_activity.length ? (
              <AuditTable records={recent_activity} caption={t('adm.user.recentOf', { name: userLabel(user) })} showActor={false} />
            ) : (
              <p className="state state-empty">{t('adm.user.noRecent')}</p>
            )}
            <p>
              <Link to={`/admin/audit?actor=${encodeURIComponent(user.id)}`}>{t('adm.user.allActivity')}</Link>
            </p>
          </Section>
        </>
      )}
    </QueryState>
  );
}
