// Patient registration: given and family names, date of birth, gender, optional phone, e-mail
// and password (the server makes a proper FHIR Patient of them); signs in right after.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router-dom';
import { useSession } from '../ui/session';
import { Field, FormError } from '../ui/components';
import { DemographicsFields } from '../ui/DemographicsFields';
import { EMPTY_DEMOGRAPHICS, FIELD_IDS, demographicsProblem, toDemographics, type Problem } from '../ui/demographics';
import { activeLanguage, translate as t } from '../i18n/core';
import { storeLanguage } from '../i18n/store';

export function RegisterPage() {
  const { client, signedIn } = useSession();
  const navigate = useNavigate();
  const [details, setDetails] = useState(EMPTY_DEMOGRAPHICS);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const register = useMutation({
    mutationFn: async () => {
      await client.register({ email, password, role: 'patient', ...toDemographics(details) });
      await client.login(email, password);
      // The new account keeps the language the portal speaks now (the browser's, or the one
      // chosen on this device): notices and e-mails use it too. Best effort.
      await storeLanguage(client, activeLanguage()).catch(() => undefined);
      return signedIn();
    },
    onSuccess: () => navigate('/', { replace: true }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = demographicsProblem(details);
    setProblem(found);
    if (found) {
      document.getElementById(FIELD_IDS[found.field])?.focus();
      return;
    }
    if (password !== confirm) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    register.mutate();
  };
  return (
    <div className="auth-page">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="register-title" noValidate>
        <h1 id="register-title">{t('register.title')}</h1>
        <DemographicsFields value={details} onChange={setDetails} problem={problem} />
        <Field label={t('login.email')} id="email">
          <input id="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label={t('login.password')} id="password" hint={t('password.hint')}>
          <input
            id="password"
            type="password"
            autoComplete="new-password"
            required
            aria-describedby="password-hint"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <Field label={t('register.repeat')} id="confirm">
          <input id="confirm" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        </Field>
        {mismatch ? (
          <p className="form-error" role="alert">
            {t('register.differ')}
          </p>
        ) : null}
        <FormError error={register.error} />
        <button type="submit" className="primary" disabled={register.isPending}>
          {register.isPending ? t('register.creating') : t('register.create')}
        </button>
        <p>
          {t('register.already')} <Link to="/login">{t('login.signIn')}</Link>
        </p>
      </form>
    </div>
  );
}
