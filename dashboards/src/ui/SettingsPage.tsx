// Account settings: who is signed in, the ids to share, a patient's own details, the display
// locale, notification preferences, password change.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useSession } from './session';
import { Badge, Field, FormError, PageTitle, Section } from './components';
import { NotificationPreferencesSection } from './NotificationPreferences';
import { LanguageSection } from './LanguageSettings';
import { YourDetailsSection } from './YourDetails';
import { translate as t } from '../i18n/core';
import { roleLabel } from '../patient/AccessLogPage';
import { ConnectedApps } from '../smart/ConnectedApps';

export function SettingsPage() {
  const { client, user, signOut } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const change = useMutation({
    mutationFn: () => client.changePassword(current, next),
    // The server ends every session on a password change.
    onSuccess: () => void signOut(),
  });
  if (!user) return null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (next !== confirm) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    change.mutate();
  };
  return (
    <>
      <PageTitle>{t('nav.settings')}</PageTitle>
      <Section title={t('settings.account')}>
        <dl className="facts">
          <dt>{t('summary.name')}</dt>
          <dd>{user.name || '—'}</dd>
          <dt>{t('login.email')}</dt>
          <dd>{user.email}</dd>
          <dt>{t('settings.role')}</dt>
          <dd>{roleLabel(user.role)}</dd>
          <dt>{user.role === 'patient' ? t('summary.patientId') : t('sharing.clinicianId')}</dt>
          <dd>
            <code data-testid="share-id">{user.role === 'patient' ? user.patient_id : user.id}</code>
          </dd>
          <dt>{t('security.title')}</dt>
          <dd>{user.totp_enabled ? <Badge tone="good">{t('security.on')}</Badge> : <Badge tone="warn">{t('security.off')}</Badge>}</dd>
        </dl>
      </Section>
      {user.role === 'patient' ? <YourDetailsSection /> : null}
      {user.role === 'patient' || user.role === 'physician' ? <ConnectedApps /> : null}
      <LanguageSection />
      <NotificationPreferencesSection />
      <Section title={t('password.change')}>
        <form onSubmit={submit} noValidate>
          <Field label={t('password.current')} id="current-password">
            <input id="current-password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
          </Field>
          <Field label={t('password.new')} id="new-password" hint={t('password.hint')}>
            <input
              id="new-password"
              type="password"
              autoComplete="new-password"
              required
              aria-describedby="new-password-hint"
              value={next}
              onChange={(e) => setNext(e.target.value)}
            />
          </Field>
          <Field label={t('password.repeat')} id="confirm-password">
            <input id="confirm-password" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
          </Field>
          {mismatch ? (
            <p className="form-error" role="alert">
              {t('password.differ')}
            </p>
          ) : null}
          <FormError error={change.error} />
          <p className="muted">{t('password.signsOut')}</p>
          <button type="submit" disabled={change.isPending || !current || !next}>
            {t('password.change')}
          </button>
        </form>
      </Section>
    </>
  );
}
