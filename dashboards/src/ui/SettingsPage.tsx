// Account settings: who is signed in, the ids to share, a patient's own details, the display
// locale, notification preferences, password change.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useSession } from './session';
import { Badge, Field, FormError, PageTitle, Section } from './components';
import { NotificationPreferencesSection } from './NotificationPreferences';
import { LanguageSection } from './LanguageSettings';
import { YourDetailsSection } from './YourDetails';

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
      <PageTitle>Settings</PageTitle>
      <Section title="Account">
        <dl className="facts">
          <dt>Name</dt>
          <dd>{user.name || '—'}</dd>
          <dt>E-mail</dt>
          <dd>{user.email}</dd>
          <dt>Role</dt>
          <dd>{user.role}</dd>
          <dt>{user.role === 'patient' ? 'Patient ID' : 'Clinician ID'}</dt>
          <dd>
            <code data-testid="share-id">{user.role === 'patient' ? user.patient_id : user.id}</code>
          </dd>
          <dt>Two-factor authentication</dt>
          <dd>{user.totp_enabled ? <Badge tone="good">On</Badge> : <Badge tone="warn">Off</Badge>}</dd>
        </dl>
      </Section>
      {user.role === 'patient' ? <YourDetailsSection /> : null}
      <LanguageSection />
      <NotificationPreferencesSection />
      <Section title="Change password">
        <form onSubmit={submit} noValidate>
          <Field label="Current password" id="current-password">
            <input id="current-password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
          </Field>
          <Field label="New password" id="new-password" hint="At least 12 characters and hard to guess: a few uncommon words work best.">
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
          <Field label="Repeat the new password" id="confirm-password">
            <input id="confirm-password" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
          </Field>
          {mismatch ? (
            <p className="form-error" role="alert">
              The new passwords differ.
            </p>
          ) : null}
          <FormError error={change.error} />
          <p className="muted">Changing the password signs you out everywhere.</p>
          <button type="submit" disabled={change.isPending || !current || !next}>
            Change password
          </button>
        </form>
      </Section>
    </>
  );
}
