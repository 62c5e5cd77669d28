// Sign-in: e-mail and password, then the TOTP (or backup) code when the account has one.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router-dom';
import { useSession } from './session';
import { Field, FormError } from './components';
import type { UserView } from '../api/types';
import { translate as t } from '../i18n/core';

export function LoginPage({
  title,
  role,
  afterLogin,
  registerLink,
}: {
  title: string;
  role: 'patient' | 'physician';
  /** Where to go once signed in. */
  afterLogin: (user: UserView) => string;
  registerLink?: boolean;
}) {
  const { client, signedIn, signOut } = useSession();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<'credentials' | 'totp'>('credentials');
  const login = useMutation({
    mutationFn: async () => {
      const result = await client.login(email, password, step === 'totp' ? code : undefined);
      if (result.kind === 'totp-required') return null;
      const user = await signedIn();
      if (user && user.role !== role) {
        await signOut();
        throw new Error(t('login.wrongPortal', { portal: t(role === 'patient' ? 'portal.patient' : 'portal.physician'), role: user.role }));
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
