// Sign-in: e-mail and password, then the TOTP (or backup) code when the account has one.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useLocation, useNavigate } from 'react-router-dom';
import { useSession } from './session';
import { Field, FormError } from './components';
import type { Role, UserView } from '../api/types';
import { translate as t } from '../i18n/core';
import { roleLabel } from '../patient/AccessLogPage';

/** What a page may hand the sign-in page (an accepted invitation: the e-mail and a notice). */
export interface LoginState {
  from?: string;
  email?: string;
  notice?: string;
}

export function LoginPage({
  title,
  role,
  afterLogin,
  registerLink,
}: {
  title: string;
  /** The roles this portal serves (others are signed out again, told which portal is theirs). */
  role: Role | readonly Role[];
  /** Where to go once signed in. */
  afterLogin: (user: UserView) => string;
  registerLink?: boolean;
}) {
  const { client, signedIn, signOut } = useSession();
  const navigate = useNavigate();
  const state = (useLocation().state as LoginState | null) ?? {};
  const roles: readonly Role[] = typeof role === 'string' ? [role] : role;
  const [email, setEmail] = useState(state.email ?? '');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<'credentials' | 'totp'>('credentials');
  const login = useMutation({
    mutationFn: async () => {
      const result = await client.login(email, password, step === 'totp' ? code : undefined);
      if (result.kind === 'totp-required') return null;
      const user = await signedIn();
      if (user && !roles.includes(user.role)) {
        await signOut();
        throw new Error(t('login.wrongPortal', { portal: roleLabel(roles[0]), role: roleLabel(user.role) }));
      }
      return user;
    },
    onSuccess: (user) => {
      if (!user) {
        setStep('totp');
        return;
      }
      navigate(afterLogin(user), { replace: true });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate();
  };
  return (
    <div className="auth-page">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <h1 id="login-title">{title}</h1>
        {state.notice ? (
          <p className="form-success" role="status">
            {state.notice}
          </p>
        ) : null}
        {step === 'credentials' ? (
          <>
            <Field label={t('login.email')} id="email">
              <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </Field>
            <Field label={t('login.password')} id="password">
              <input
                id="password"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </Field>
          </>
        ) : (
          <>
            <p>{t('login.codeText')}</p>
            <Field label={t('login.code')} id="totp-code">
              <input
                id="totp-code"
                inputMode="numeric"
                autoComplete="one-time-code"
                required
                autoFocus
                value={code}
                onChange={(e) => setCode(e.target.value)}
              />
            </Field>
          </>
        )}
        <FormError error={login.error} />
        <button type="submit" className="primary" disabled={login.isPending}>
          {login.isPending ? t('login.signingIn') : step === 'totp' ? t('login.verify') : t('login.signIn')}
        </button>
        {step === 'totp' ? (
          <button
            type="button"
            className="link-button"
            onClick={() => {
              setStep('credentials');
              setCode('');
              login.reset();
            }}
          >
            {t('login.other')}
          </button>
        ) : null}
        {registerLink ? (
          <p>
            {t('login.new')} <Link to="/register">{t('login.create')}</Link>
          </p>
        ) : null}
      </form>
    </div>
  );
}
