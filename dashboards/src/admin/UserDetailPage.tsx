// One account: who it is, its sessions and lockout, its actions, and its recent activity.

import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import { AuditTable } from './AuditTable';
import { UserActions } from './UserActions';
import { statusBadge } from './UsersPage';
import { userLabel } from './hooks';

export function UserDetailPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const detail = useQuery({ queryKey: ['admin', 'user', id], queryFn: () => client.adminUser(id) });
  if (detail.isError && isNotFound(detail.error)) {
    return (
      <>
        <PageTitle>Account not found</PageTitle>
        <p className="card">
          There is no account with the id <code>{id}</code>. <Link to="/admin/users">Back to the users</Link>.
        </p>
      </>
    );
  }
  return (
    <QueryState query={detail} loadingLabel="Loading the account…">
      {({ user, created_at, last_sign_in_at, active_sessions, locked, recent_activity }) => (
        <>
          <PageTitle actions={<Link to="/admin/users">All users</Link>}>{userLabel(user)}</PageTitle>
          <Section title="Account">
            <dl className="facts">
              <dt>E-mail</dt>
              <dd>{user.email}</dd>
              <dt>Role</dt>
              <dd>{user.role}</dd>
              <dt>Status</dt>
              <dd>{statusBadge(user.status)}</dd>
              <dt>Signing in</dt>
              <dd>{locked ? <Badge tone="bad">locked after failed attempts</Badge> : <Badge tone="good">not locked</Badge>}</dd>
              <dt>Two-factor</dt>
              <dd>{user.totp_enabled ? 'on' : 'off'}</dd>
              <dt>Created</dt>
              <dd>{formatDateTime(created_at)}</dd>
              <dt>Last sign-in</dt>
              <dd>{last_sign_in_at ? formatDateTime(last_sign_in_at) : 'never'}</dd>
              <dt>Active sessions</dt>
              <dd>{active_sessions}</dd>
              {user.patient_id ? (
                <>
                  <dt>Patient record</dt>
                  <dd>
                    <code>{user.patient_id}</code>
                  </dd>
                </>
              ) : null}
              <dt>Id</dt>
              <dd>
                <code data-testid="user-id">{user.id}</code>
              </dd>
            </dl>
          </Section>
          <Section title="Actions">
            <UserActions user={user} unlock={locked || user.status !== 'pending'} />
          </Section>
          <Section title="Recent activity">
            {recent_activity.length ? (
              <AuditTable records={recent_activity} caption={`Recent requests of ${userLabel(user)}`} showActor={false} />
            ) : (
              <p className="state state-empty">No recorded request yet.</p>
            )}
            <p>
              <Link to={`/admin/audit?actor=${encodeURIComponent(user.id)}`}>All of this account's activity in the audit log</Link>
            </p>
          </Section>
        </>
      )}
    </QueryState>
  );
}
