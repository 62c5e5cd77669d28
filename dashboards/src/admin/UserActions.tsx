// What an admin can do to one account: approve, suspend, reinstate, unlock, change the role.
// The server decides (409 names a transition it refuses, e.g. demoting the last admin); its
// message is shown next to the buttons.

import { useId, useState } from 'react';
import type { AssignableRole, UserAction, UserView } from '../api/types';
import { FormError } from '../ui/components';
import { actionDone, actionLabel, statusActions, useUserChange, userLabel } from './hooks';
import { roleName } from './UsersPage';
import { translate as t } from '../i18n/core';

export const ASSIGNABLE_ROLES: AssignableRole[] = ['admin', 'physician', 'researcher'];

export function UserActions({
  user,
  unlock = true,
  roles = true,
  compact = false,
  onDone,
}: {
  user: UserView;
  /** Offer "Unlock" (a sign-in lockout after failed attempts). */
  unlock?: boolean;
  /** Offer the role change (never for a patient: the account is bound to its record). */
  roles?: boolean;
  compact?: boolean;
  /** Told what was done (else it is said here; a row that leaves its list needs the former). */
  onDone?: (message: string) => void;
}) {
  const change = useUserChange();
  const selectId = useId();
  const [role, setRole] = useState<AssignableRole | ''>('');
  const [done, setDone] = useState('');
  const name = userLabel(user);
  const report = (message: string) => (onDone ? onDone(message) : setDone(message));
  const actions = [...statusActions(user), ...(unlock ? (['unlock'] as UserAction[]) : [])];
  const run = (action: UserAction) => {
    setDone('');
    change.mutate({ user, action }, { onSuccess: (updated) => report(actionDone(action, userLabel(updated))) });
  };
  const changeRole = () => {
    if (!role || role === user.role) return;
    setDone('');
    change.mutate({ user, role }, { onSuccess: (updated) => report(t('adm.role.now', { name: userLabel(updated), role: roleName(updated.role) })) });
  };
  return (
    <div className={`user-actions${compact ? ' user-actions-compact' : ''}`}>
      <div className="actions">
        {actions.map((action) => (
          <button
            key={action}
            type="button"
            className={action === 'approve' || action === 'reinstate' ? 'primary' : action === 'suspend' ? 'danger' : undefined}
            aria-label={t('adm.action.of', { action: actionLabel(action), name })}
            disabled={change.isPending}
            onClick={() => run(action)}
          >
            {actionLabel(action)}
          </button>
        ))}
      </div>
      {roles && user.role !== 'patient' ? (
        <div className="role-change">
          <label htmlFor={selectId} className="visually-hidden">
            {t('adm.role.new', { name })}
          </label>
          <select id={selectId} value={role} onChange={(e) => setRole(e.target.value as AssignableRole | '')}>
            <option value="">{t('adm.role.change')}</option>
            {ASSIGNABLE_ROLES.filter((r) => r !== user.role).map((r) => (
              <option key={r} value={r}>
                {roleName(r)}
              </option>
            ))}
          </select>
          <button type="button" disabled={!role || change.isPending} onClick={changeRole} aria-label={t('adm.role.apply', { name })}>
            {t('adm.apply')}
          </button>
        </div>
      ) : null}
      <FormError error={change.error} />
      {done ? (
        <p className="form-success" role="status">
          {done}
        </p>
      ) : null}
    </div>
  );
}
