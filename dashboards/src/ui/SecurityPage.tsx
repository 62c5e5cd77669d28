// Two-factor authentication: enrolment with the server's QR code (and the key for manual
// entry), verification, the one-time backup codes, and (where allowed) turning it off.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { useSession } from './session';
import { Badge, Field, FormError, PageTitle, Section } from './components';
import { translate as t } from '../i18n/core';

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
      <PageTitle>{t('security.title')}</PageTitle>
      {backupCodes ? (
        <Section title={t('security.saveCodes')}>
          <p>{t('security.saveCodes.text')}</p>
          <ul className="backup-codes" aria-label={t('security.codes')}>
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
            {t('security.saved')}
          </button>
        </Section>
      ) : user.totp_enabled ? (
        <Section title={t('security.status')}>
          <p>
            <Badge tone="good">{t('security.on')}</Badge> {t('security.on.text')}
          </p>
          {mandatory ? (
            <p className="muted">{t('security.mandatory')}</p>
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                disable.mutate();
              }}
            >
              <Field label={t('security.disableCode')} id="disable-code">
                <input id="disable-code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
              </Field>
              <FormError error={disable.error} />
              <button type="submit" disabled={disable.isPending || !code.trim()}>
                {t('security.turnOff')}
              </button>
            </form>
          )}
        </Section>
      ) : (
        <Section title={t('security.setup')}>
          {mandatory ? (
            <p className="notice" role="note">
              {t('security.setup.physician')}
            </p>
          ) : (
            <p>{t('security.setup.text')}</p>
          )}
          {!enrolment ? (
            <>
              <FormError error={setup.error} />
              <button type="button" className="primary" onClick={() => setup.mutate()} disabled={setup.isPending}>
                {setup.isPending ? t('security.preparing') : t('security.start')}
              </button>
            </>
          ) : (
            <form onSubmit={submitVerify} className="totp-setup">
              <ol>
                <li>
                  {t('security.scan')}
                  <img className="qr" src={enrolment.qr_svg} alt={t('security.qr')} width={200} height={200} />
                  {t('security.orKey')} <code data-testid="totp-secret">{groupKey(otpauthSecret(enrolment.otpauth_uri))}</code>
                </li>
                <li>
                  <Field label={t('security.enterCode')} id="verify-code">
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
                {verify.isPending ? t('security.verifying') : t('security.turnOn')}
              </button>
            </form>
          )}
        </Section>
      )}
    </>
  );
}
