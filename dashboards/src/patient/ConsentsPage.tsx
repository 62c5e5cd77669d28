// Sharing: grant a clinician access (found by name in the directory, or by pasted id; scope
// and expiry), answer their requests, revoke.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import type { Clinician, ConsentStatus, Grant } from '../api/types';
import { ClinicianPicker, clinicianLabel } from './ClinicianPicker';
import { translate as t, type MessageKey } from '../i18n/core';

/** Record types a patient can share one by one. */
export const SCOPE_TYPES: { type: string; label: MessageKey }[] = [
  { type: 'Observation', label: 'sharing.scope.Observation' },
  { type: 'Condition', label: 'sharing.scope.Condition' },
  { type: 'MedicationRequest', label: 'sharing.scope.MedicationRequest' },
  { type: 'AllergyIntolerance', label: 'sharing.scope.AllergyIntolerance' },
  { type: 'Immunization', label: 'sharing.scope.Immunization' },
  { type: 'Encounter', label: 'sharing.scope.Encounter' },
  { type: 'DocumentReference', label: 'sharing.scope.DocumentReference' },
  { type: 'DiagnosticReport', label: 'sharing.scope.DiagnosticReport' },
];

/** The RFC 3339 end of a `yyyy-mm-dd` day in the user's time zone (exclusive: next midnight). */
export function endOfDay(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y, m - 1, d + 1, 0, 0, 0).toISOString();
}

const TONE: Record<ConsentStatus, 'good' | 'warn' | 'bad' | 'neutral' | 'info'> = {
  active: 'good',
  proposed: 'info',
  rejected: 'neutral',
  revoked: 'neutral',
  expired: 'neutral',
};

export function scopeText(scope: Grant['scope']): string {
  if (scope === '*') return t('consent.scope.all');
  return scope
    .map((type) => {
      const known = SCOPE_TYPES.find((s) => s.type === type);
      return known ? t(known.label) : type;
    })
    .join(', ');
}

const STATUS_KEYS: Record<ConsentStatus, MessageKey> = {
  active: 'consent.active',
  proposed: 'consent.proposed',
  rejected: 'consent.rejected',
  revoked: 'consent.revoked',
  expired: 'consent.expired',
};

/** Who a consent is with: the clinician's name, else their e-mail (the server's
 * `grantee_name`), never the bare account id. */
export function granteeLabel(grant: Grant): string {
  return grant.grantee_name ?? t('sharing.removed');
}

export function ConsentsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const locale = userLocale();
  const consents = useQuery({ queryKey: ['consents'], queryFn: () => client.consents(), staleTime: 0 });
  const [grantee, setGrantee] = useState('');
  const [chosen, setChosen] = useState<Clinician | null>(null);
  const [everything, setEverything] = useState(true);
  const [types, setTypes] = useState<string[]>([]);
  const [until, setUntil] = useState('');
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['consents'] });
  const grant = useMutation({
    mutationFn: () =>
      client.createConsent({
        grantee: grantee.trim(),
        scope: everything ? ['*'] : types,
        end: until ? endOfDay(until) : undefined,
      }),
    onSuccess: () => {
      setGrantee('');
      setChosen(null);
      setUntil('');
      return refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => client.revokeConsent(id), onSuccess: refresh });
  const answer = useMutation({ mutationFn: ({ id, accept }: { id: string; accept: boolean }) => client.answerConsent(id, accept), onSuccess: refresh });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    grant.mutate();
  };
  const toggle = (type: string) => setTypes((all) => (all.includes(type) ? all.filter((t) => t !== type) : [...all, type]));
  return (
    <>
      <PageTitle>{t('sharing.title')}</PageTitle>
      <Section title={t('sharing.share')}>
        <form onSubmit={submit} noValidate>
          <ClinicianPicker
            onChoose={(clinician) => {
              setChosen(clinician);
              setGrantee(clinician.id);
            }}
          />
          <Field label={t('sharing.clinicianId')} id="grantee" hint={t('sharing.clinicianId.hint')}>
            <input
              id="grantee"
              required
              value={grantee}
              onChange={(e) => {
                setGrantee(e.target.value);
                setChosen(null);
              }}
              aria-describedby="grantee-hint"
            />
          </Field>
          {chosen && chosen.id === grantee ? (
            <p className="notice" data-testid="chosen-clinician">
              {t('sharing.with')} <strong>{clinicianLabel(chosen)}</strong>
            </p>
          ) : null}
          <fieldset>
            <legend>{t('sharing.what')}</legend>
            <label className="check">
              <input type="radio" name="scope" checked={everything} onChange={() => setEverything(true)} /> {t('sharing.all')}
            </label>
            <label className="check">
              <input type="radio" name="scope" checked={!everything} onChange={() => setEverything(false)} /> {t('sharing.only')}
            </label>
            {!everything ? (
              <div className="check-grid">
                {SCOPE_TYPES.map((s) => (
                  <label key={s.type} className="check">
                    <input type="checkbox" checked={types.includes(s.type)} onChange={() => toggle(s.type)} /> {t(s.label)}
                  </label>
                ))}
              </div>
            ) : null}
          </fieldset>
          <Field label={t('sharing.until')} id="until" hint={t('sharing.until.hint')}>
            <input id="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} aria-describedby="until-hint" />
          </Field>
          <FormError error={grant.error} />
          <button type="submit" className="primary" disabled={grant.isPending || !grantee.trim() || (!everything && types.length === 0)}>
            {t('sharing.button')}
          </button>
        </form>
      </Section>
      <Section title={t('sharing.yours')}>
        <QueryState query={consents} empty={t('sharing.none')} loadingLabel={t('sharing.loading')}>
          {(grants) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">{t('sharing.yours')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('sharing.col.clinician')}</th>
                    <th scope="col">{t('sharing.col.status')}</th>
                    <th scope="col">{t('consent.scope')}</th>
                    <th scope="col">{t('consent.since')}</th>
                    <th scope="col">{t('consent.until')}</th>
                    <th scope="col">{t('sharing.col.actions')}</th>
                  </tr>
                </thead>
                <tbody>
                  {[...grants]
                    .sort((a, b) => b.start.localeCompare(a.start))
                    .map((g) => (
                      <tr key={g.id} className={g.break_glass ? 'row-alert' : undefined} data-testid="consent-row">
                        <td>
                          <span className="actor-name" data-testid="consent-clinician">
                            {granteeLabel(g)}
                          </span>
                          {g.break_glass ? (
                            <>
                              <br />
                              <Badge tone="bad">{t('consent.emergency')}</Badge> {g.reason ? <span>{t('consent.reason', { reason: g.reason })}</span> : null}
                            </>
                          ) : g.initiator === 'physician' && g.status === 'proposed' ? (
                            <>
                              <br />
                              <span className="muted">{t('sharing.asked')}</span>
                            </>
                          ) : null}
                        </td>
                        <td>
                          <Badge tone={TONE[g.status]}>{t(STATUS_KEYS[g.status])}</Badge>
                        </td>
                        <td>{scopeText(g.scope)}</td>
                        <td>{formatDateTime(g.start, locale)}</td>
                        <td>{g.end ? formatDateTime(g.end, locale) : t('consent.untilRevoked')}</td>
                        <td className="actions">
                          {g.status === 'proposed' && g.initiator === 'physician' ? (
                            <>
                              <button type="button" className="primary" onClick={() => answer.mutate({ id: g.id, accept: true })}>
                                {t('sharing.accept')}
                              </button>
                              <button type="button" onClick={() => answer.mutate({ id: g.id, accept: false })}>
                                {t('sharing.decline')}
                              </button>
                            </>
                          ) : null}
                          {g.status === 'active' ? (
                            <button type="button" className="danger" onClick={() => revoke.mutate(g.id)} aria-label={t('sharing.revokeOf', { name: granteeLabel(g) })}>
                              {t('sharing.revoke')}
                            </button>
                          ) : null}
                        </td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryState>
        <FormError error={revoke.error ?? answer.error} />
      </Section>
    </>
  );
}
