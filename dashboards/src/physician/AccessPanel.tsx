// A physician's access to one patient: the consent in force (or none), requesting access, and
// break-glass emergency access with a stated reason.

import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { activeGrants, useConsents } from './hooks';
import { translate as t } from '../i18n/core';
import { typeLabel } from './SearchPage';

/** The server's shortest break-glass reason, in characters (after trimming). */
export const BREAK_GLASS_MIN_CHARS = 20;

/** Characters as the server counts them (code points, not UTF-16 units). */
function length(text: string): number {
  return [...text.trim()].length;
}

export function reasonLongEnough(reason: string): boolean {
  return length(reason) >= BREAK_GLASS_MIN_CHARS;
}

/** The hint under the reason: the rule, and how many characters are still missing. */
export function reasonHint(reason: string): string {
  const missing = BREAK_GLASS_MIN_CHARS - length(reason);
  const rule = t('glass.rule', { min: BREAK_GLASS_MIN_CHARS });
  return missing > 0 ? `${rule} ${t('glass.missing', { count: missing })}` : rule;
}

export function ConsentStatus({ patientId }: { patientId: string }) {
  const consents = useConsents();
  const locale = userLocale();
  return (
    <QueryState query={consents} loadingLabel={t('glass.checking')}>
      {(grants) => {
        const active = activeGrants(grants, patientId);
        const pending = grants.find((g) => g.patient === patientId && g.status === 'proposed');
        if (!active.length) {
          return (
            <p className="consent-status">
              <Badge tone="warn">{t('glass.noConsent')}</Badge> {pending ? t('glass.waiting') : t('glass.noAccess')}
            </p>
          );
        }
        const grant = active[0];
        return (
          <p className="consent-status" data-testid="consent-status">
            {grant.break_glass ? <Badge tone="bad">{t('consent.emergency')}</Badge> : <Badge tone="good">{t('glass.active')}</Badge>}{' '}
            {grant.scope === '*' ? t('consent.scope.all') : t('glass.records', { types: grant.scope.map((type) => typeLabel(type, t)).join(', ') })}
            {grant.end ? ` · ${t('glass.until', { when: formatDateTime(grant.end, locale) })}` : ` · ${t('glass.noEnd')}`}
            {grant.break_glass && grant.reason ? ` · ${t('glass.reason', { reason: grant.reason })}` : ''}
          </p>
        );
      }}
    </QueryState>
  );
}

export function AccessPanel({ patientId }: { patientId: string }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState('');
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['consents'] }).then(() => queryClient.invalidateQueries({ queryKey: ['fhir'] }));
  const request = useMutation({
    mutationFn: () => client.createConsent({ patient: patientId, scope: ['*'] }),
    onSuccess: refresh,
  });
  const breakGlass = useMutation({
    mutationFn: () => client.breakGlass(patientId, reason.trim()),
    onSuccess: refresh,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (reasonLongEnough(reason)) breakGlass.mutate();
  };
  return (
    <Section title={t('glass.title')} id="access">
      <ConsentStatus patientId={patientId} />
      <p>{t('glass.intro')}</p>
      <div className="grid-2">
        <div>
          <h3>{t('glass.ask')}</h3>
          <p>{t('glass.ask.text')}</p>
          <FormError error={request.error} />
          {request.isSuccess ? <p role="status">{t('glass.sent')}</p> : null}
          <button type="button" onClick={() => request.mutate()} disabled={request.isPending || request.isSuccess}>
            {t('glass.request')}
          </button>
        </div>
        <form onSubmit={submit} className="break-glass">
          <h3>{t('glass.emergency')}</h3>
          <p>{t('glass.emergency.text')}</p>
          <Field label={t('history.reason')} id="break-glass-reason" hint={reasonHint(reason)}>
            <textarea
              id="break-glass-reason"
              required
              minLength={BREAK_GLASS_MIN_CHARS}
              rows={3}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              aria-describedby="break-glass-reason-hint"
            />
          </Field>
          <FormError error={breakGlass.error} />
          <button type="submit" className="danger" disabled={breakGlass.isPending || !reasonLongEnough(reason)}>
            {t('glass.break')}
          </button>
        </form>
      </div>
    </Section>
  );
}
