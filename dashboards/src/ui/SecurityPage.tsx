// Two-factor authentication: enrolment with the server's QR code (and the key for manual
// entry), verification, the one-time backup codes, and (where allowed) turning it off.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { useSession } from './session';
import { Badge, Field, FormError, PageTitle, Section } from './components';

/** The base32 secret of an `otpauth://` URI (for typing into an app). */
export function otpauthSecret(uri: string): string {
  try {
    return new URL(uri).searchParams.get('secret') ?? '';
  } catch {
    return '';
  }
}

/** `ABCDEFGH…` in groups of four for reading aloud or typing. */
export function groupKey(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

export function SecurityPage({ mandatory, continueTo }: { mandatory: boolean; continueTo: string }) {
  const { client, user, signedIn } = useSession();
  const navigate = useNavigate();
  const [code, setCode] = useState('');
  const [backupCodes, setBackupCodes] = useState<string[] | null>(null);
  const setup = useMutation({ mutationFn: () => client.totpSetup() });
  const verify = useMutation({
    mutationFn: () => client.totpVerify(code.trim()),
    onSuccess: async (verified) => {
      setBackupCodes(verified.backup_codes);
      setCode('');
    },
  });
  const disable = useMutation({
    mutationFn: () => client.totpDisable(code.trim()),
    onSuccess: async () => {
      setCode('');
      await signedIn();
    },
  });
  if (!user) return null;
  const enrolment = setup.data;
  const submitVerify = (event: FormEvent) => {
    event.preventDefault();
    verify.mutate();
  };
  return (
    <>
      <PageTitle>Two-factor authentication</PageTitle>
      {backupCodes ? (
        <Section title="Save your backup codes">
          <p>
            Two-factor authentication is on. Each backup code signs you in once if you lose your authenticator. They are
            shown only now: store them somewhere safe.
          </p>
          <ul className="backup-codes" aria-label="Backup codes">
            {backupCodes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
          <button
            type="button"
            className="primary"
            onClick={async () => {
              await signedIn();
              navigate(continueTo, { replace: true });
            }}
          >
            I have saved them — continue
          </button>
        </Section>
      ) : user.totp_enabled ? (
        <Section title="Status">
          <p>
            <Badge tone="good">On</Badge> Your account asks for a code from your authenticator app at every sign-in.
          </p>
          {mandatory ? (
            <p className="muted">Two-factor authentication is required for your role and cannot be turned off.</p>
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                disable.mutate();
              }}
            >
              <Field label="Code to turn it off" id="disable-code">
                <input id="disable-code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
              </Field>
              <FormError error={disable.error} />
              <button type="submit" disabled={disable.isPending || !code.trim()}>
                Turn off
              </button>
            </form>
          )}
        </Section>
      ) : (
        <Section title="Set up an authenticator app">
          {mandatory ? (
            <p className="notice" role="note">
              Physicians must use two-factor authentication before they can see patient data.
            </p>
          ) : (
            <p>Protect your account with a code from an authenticator app at every sign-in.</p>
          )}
          {!enrolment ? (
            <>
              <FormError error={setup.error} />
              <button type="button" className="primary" onClick={() => setup.mutate()} disabled={setup.isPending}>
                {setup.isPending ? 'Preparing…' : 'Start setup'}
              </button>
            </>
          ) : (
            <form onSubmit={submitVerify} className="totp-setup">
              <ol>
                <li>
                  Scan this QR code with your authenticator app:
                  <img className="qr" src={enrolment.qr_svg} alt="QR code of your authenticator key" width={200} height={200} />
                  or enter this key: <code data-testid="totp-secret">{groupKey(otpauthSecret(enrolment.otpauth_uri))}</code>
                </li>
                <li>
                  <Field label="Enter the 6-digit code it shows" id="verify-code">
                    <input
                      id="verify-code"
                      inputMode="numeric"
                      autoComplete="one-time-code"
                      required
                      value={code}
                      onChange={(e) => setCode(e.target.value)}
                    />
                  </Field>
                </li>
              </ol>
              <FormError error={verify.error} />
              <button type="submit" className="primary" disabled={verify.isPending || !code.trim()}>
                {verify.isPending ? 'Verifying…' : 'Turn on'}
              </button>
            </form>
          )}
        </Section>
      )}
    </>
  );
}
