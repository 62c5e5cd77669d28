// Accounts: physicians waiting for approval, and every account in a searchable, filterable
// table with its actions. The filters live in the URL (`/admin/users?q=…&role=…&status=…`).

import { useState, type FormEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, Field, PageTitle, QueryState, Section } from '../ui/components';
import type { UserView } from '../api/types';
import { UserActions } from './UserActions';
import { userFiltersFromSearch, userFiltersToSearch, userQuery, type UserFilters } from './filters';
import { userLabel } from './hooks';

const PAGE = 25;

export function statusBadge(status: UserView['status']) {
  const tone = status === 'active' ? 'good' : status === 'pending' ? 'warn' : 'bad';
  return <Badge tone={tone}>{status}</Badge>;
}

/** Physicians who registered and wait for an admin (approve or suspend). */
export function PendingPhysicians() {
  const client = useClient();
  const [done, setDone] = useState('');
  const pending = useQuery({
    queryKey: ['admin', 'users', 'pending'],
    queryFn: () => client.adminUsers({ pending: true, limit: 100 }),
    // The server filters; this only keeps a row that changed meanwhile out.
    select: (page) => ({ ...page, users: page.users.filter((user) => user.role === 'physician' && user.status === 'pending') }),
  });
  return (
    <Section title="Pending physicians" id="pending-physicians">
      {done ? (
        <p className="form-success" role="status">
          {done}
        </p>
      ) : null}
      <QueryState query={pending} isEmpty={(page) => page.users.length === 0} empty="No physician is waiting for approval.">
        {(page) => (
          <ul className="plain-list pending-list" aria-label="Physicians waiting for approval">
            {page.users.map((user) => (
              <li key={user.id} className="pending-item">
                <div>
                  <Link to={`/admin/users/${encodeURIComponent(user.id)}`} className="pending-name">
                    {userLabel(user)}
                  </Link>{' '}
                  <span className="muted">{user.email}</span>
                </div>
                <UserActions user={user} unlock={false} roles={false} onDone={setDone} />
              </li>
            ))}
          </ul>
        )}
      </QueryState>
    </Section>
  );
}

export function UsersPage() {
  const client = useClient();
  const [search, setSearch] = useSearchParams();
  const applied = userFiltersFromSearch(search);
  const [form, setForm] = useState<UserFilters>(applied);
  const [offset, setOffset] = useState(0);
  const users = useQuery({
    queryKey: ['admin', 'users', applied, offset],
    queryFn: () => client.adminUsers(userQuery(applied, { limit: PAGE, offset })),
    placeholderData: keepPreviousData,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setOffset(0);
    setSearch(userFiltersToSearch(form));
  };
  const clear = () => {
    setForm({ q: '', role: '', status: '' });
    setOffset(0);
    setSearch(new URLSearchParams());
  };
  return (
    <>
      <PageTitle>Users</PageTitle>
      <PendingPhysicians />
      <Section title="All accounts" id="accounts">
        <form className="inline-form filters" role="search" aria-label="Search accounts" onSubmit={submit}>
          <Field label="Name or e-mail" id="user-q">
            <input id="user-q" type="search" value={form.q} onChange={(e) => setForm({ ...form, q: e.target.value })} />
          </Field>
          <Field label="Role" id="user-role">
            <select id="user-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="">Any role</option>
              <option value="admin">admin</option>
              <option value="physician">physician</option>
              <option value="researcher">researcher</option>
              <option value="patient">patient</option>
            </select>
          </Field>
          <Field label="Status" id="user-status">
            <select id="user-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.target.value })}>
              <option value="">Any status</option>
              <option value="active">active</option>
              <option value="pending">pending</option>
              <option value="suspended">suspended</option>
            </select>
          </Field>
          <div className="actions">
            <button type="submit" className="primary">
              Search
            </button>
            <button type="button" onClick={clear}>
              Clear
            </button>
          </div>
        </form>
        <QueryState query={users} isEmpty={(page) => page.users.length === 0} empty="No account matches.">
          {({ users: rows, total = rows.length }) => (
            <>
              <p className="muted" role="status" data-testid="user-count">
                {total === 1 ? '1 account' : `${total.toLocaleString('en-US')} accounts`}
                {total > PAGE ? `, showing ${offset + 1}–${offset + rows.length}` : ''}
              </p>
              <div className="table-wrap">
                <table className="users-table">
                  <caption className="visually-hidden">Accounts</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">E-mail</th>
                      <th scope="col">Role</th>
                      <th scope="col">Status</th>
                      <th scope="col">2FA</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((user) => (
                      <tr key={user.id}>
                        <th scope="row">
                          <Link to={`/admin/users/${encodeURIComponent(user.id)}`}>{user.name?.trim() || '(no name)'}</Link>
                        </th>
                        <td>{user.email}</td>
                        <td>{user.role}</td>
                        <td>{statusBadge(user.status)}</td>
                        <td>{user.totp_enabled ? 'on' : 'off'}</td>
                        <td>
                          <UserActions user={user} compact />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {total > PAGE ? (
                <div className="actions pager">
                  <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                    Previous page
                  </button>
                  <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
                    Next page
                  </button>
                </div>
              ) : null}
            </>
          )}
        </QueryState>
      </Section>
    </>
  );
}
