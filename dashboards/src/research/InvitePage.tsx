// Accepting a researcher invitation (`/invite/{token}`, public: the token is the credential):
// the invitee chooses a name and a password, then signs in. An unknown link (404) and a used,
// revoked or expired one (410) each say what to do.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { useSession } from '../ui/session';
import { Field, FormError } from '../ui/components';
import type { LoginState } from '../ui/LoginPage';
import { translate as t } from '../i18n/core';

/** What an invitee is told when the server refuses the link itself (`null`: another error). */
export function invitationRefusal(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 404) {
    return t('res.inv.invalid');
  }
  if (error.status === 410) {
    return t('res.inv.used');
  }
  return null;
}

export function InvitePage() {
  const { token = '' } = useParams();
  const { client } = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [problem, setProblem] = useState('');
  const accept = useMutation({
    mutationFn: () => client.acceptInvitation(token, { name: name.trim(), password }),
    onSuccess: (user) => {
      const state: LoginState = { email: user.email, notice: t('res.inv.ready'), from: '/research' };
      navigate('/login', { replace: true, state });
    },
  });
  const refusal = invitationRefusal(accept.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) return setProblem(t('res.inv.noName'));
    if (password !== confirm) return setProblem(t('register.differ'));
    setProblem('');
    accept.mutate();
  };
  return (
    <div className="auth-page">
      {refusal ? (
        <div className="card auth-card">
          <h1>{t('res.inv.unusable')}</h1>
          <p className="form-error" role="alert">
            {refusal}
          </p>
          <p>
            {t('res.inv.haveAccount')} <Link to="/login">{t('res.inv.signIn')}</Link>
          </p>
        </div>
      ) : (
        <form className="card auth-card" onSubmit={submit} aria-labelledby="invite-title" noValidate>
          <h1 id="invite-title">{t('res.inv.title')}</h1>
          <p>{t('res.inv.intro')}</p>
          <Field label={t('res.inv.name')} id="invite-name">
            <input id="invite-name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label={t('res.inv.password')} id="invite-password" hint={t('password.hint')}>
            <input
              id="invite-password"
              type="password"
              autoComplete="new-password"
              required
              aria-describedby="invite-password-hint"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <Field label={t('register.repeat')} id="invite-confirm">
            <input id="invite-confirm" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
          </Field>
          {problem ? (
            <p className="form-error" role="alert">
              {problem}
            </p>
          ) : null}
          <FormError error={accept.error} />
          <button type="submit" className="primary" disabled={accept.isPending}>
            {accept.isPending ? t('res.inv.creating') : t('res.inv.create')}
          </button>
        </form>
      )}
    </div>
  );
}
