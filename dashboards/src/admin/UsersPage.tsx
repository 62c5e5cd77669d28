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
import { isMessageKey, translate as t } from '../i18n/core';

const PAGE = 25;

export function statusBadge(status: UserView['status']) {
  const tone = status === 'active' ? 'good' : status === 'pending' ? 'warn' : 'bad';
  return <Badge tone={tone}>{accountStatus(status)}</Badge>;
}

/** An account status in words (an unknown one as it comes). */
export function accountStatus(status: string): string {
  const key = `adm.status.${status}`;
  return isMessageKey(key) ? t(key) : status;
}

/** A role in words (an unknown one as it comes). */
export function roleName(role: string): string {
  const key = `role.${role}`;
  return isMessageKey(key) ? t(key) : role;
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
    <Section title={t('adm.pending.title')} id="pending-physicians">
      {done ? (
        <p className="form-success" role="status">
          {done}
        </p>
      ) : null}
      <QueryState query={pending} isEmpty={(page) => page.users.length === 0} empty={t('adm.pending.none')}>
        {(page) => (
          <ul className="plain-list pending-list" aria-label={t('adm.pending.list')}>
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
      <PageTitle>{t('adm.users.title')}</PageTitle>
      <PendingPhysicians />
      <Section title={t('adm.users.all')} id="accounts">
        <form className="inline-form filters" role="search" aria-label={t('adm.users.search')} onSubmit={submit}>
          <Field label={t('adm.users.q')} id="user-q">
            <input id="user-q" type="search" value={form.q} onChange={(e) => setForm({ ...form, q: e.target.value })} />
          </Field>
          <Field label={t('adm.col.role')} id="user-role">
            <select id="user-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="">{t('adm.users.anyRole')}</option>
              <option value="admin">{roleName('admin')}</option>
              <option value="physician">{roleName('physician')}</option>
              <option value="researcher">{roleName('researcher')}</option>
              <option value="patient">{roleName('patient')}</option>
            </select>
          </Field>
          <Field label={t('adm.col.status')} id="user-status">
            <select id="user-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.target.value })}>
              <option value="">{t('adm.users.anyStatus')}</option>
              <option value="active">{accountStatus('active')}</option>
              <option value="pending">{accountStatus('pending')}</option>
              <option value="suspended">{accountStatus('suspended')}</option>
            </select>
          </Field>
          <div className="actions">
            <button type="submit" className="primary">
              {t('adm.search')}
            </button>
            <button type="button" onClick={clear}>
              {t('adm.clear')}
            </button>
          </div>
        </form>
        <QueryState query={users} isEmpty={(page) => page.users.length === 0} empty={t('adm.users.none')}>
          {({ users: rows, total = rows.length }) => (
            <>
              <p className="muted" role="status" data-testid="user-count">
                {t('adm.users.count', { count: total })}
                {total > PAGE ? t('adm.users.showing', { from: offset + 1, to: offset + rows.length }) : ''}
              </p>
              <div className="table-wrap">
                <table className="users-table">
                  <caption className="visually-hidden">{t('adm.users.caption')}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('adm.col.name')}</th>
                      <th scope="col">{t('adm.col.email')}</th>
                      <th scope="col">{t('adm.col.role')}</th>
                      <th scope="col">{t('adm.col.status')}</th>
                      <th scope="col">{t('adm.col.totp')}</th>
                      <th scope="col">{t('adm.col.actions')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((user) => (
                      <tr key={user.id}>
                        <th scope="row">
                          <Link to={`/admin/users/${encodeURIComponent(user.id)}`}>{user.name?.trim() || t('adm.users.noName')}</Link>
                        </th>
                        <td>{user.email}</td>
                        <td>{roleName(user.role)}</td>
                        <td>{statusBadge(user.status)}</td>
                        <td>{user.totp_enabled ? t('adm.on') : t('adm.off')}</td>
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
                    {t('adm.previous')}
                  </button>
                  <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
                    {t('adm.next')}
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
