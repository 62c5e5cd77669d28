// A physician's access to one patient: the consent in force (or none), requesting access, and
// break-glass emergency access with a stated reason.

import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { activeGrants, useConsents } from './hooks';

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
  const rule = `Say why this is an emergency, in at least ${BREAK_GLASS_MIN_CHARS} characters.`;
  return missing > 0 ? `${rule} ${missing} more to go.` : rule;
}

export function ConsentStatus({ patientId }: { patientId: string }) {
  const consents = useConsents();
  const locale = userLocale();
  return (
    <QueryState query={consents} loadingLabel="Checking consent…">
      {(grants) => {
        const active = activeGrants(grants, patientId);
        const pending = grants.find((g) => g.patient === patientId && g.status === 'proposed');
        if (!active.length) {
          return (
            <p className="consent-status">
              <Badge tone="warn">No consent</Badge> {pending ? 'Your access request is waiting for the patient.' : 'You have no access in force.'}
            </p>
          );
        }
        const grant = active[0];
        return (
          <p className="consent-status" data-testid="consent-status">
            {grant.break_glass ? <Badge tone="bad">Emergency access</Badge> : <Badge tone="good">Consent active</Badge>}{' '}
            {grant.scope === '*' ? 'All records' : `Records: ${grant.scope.join(', ')}`}
            {grant.end ? ` · until ${formatDateTime(grant.end, locale)}` : ' · no end date'}
            {grant.break_glass && grant.reason ? ` · reason: ${grant.reason}` : ''}
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
    <Section title="No access to this patient" id="access">
      <ConsentStatus patientId={patientId} />
      <p>The patient has not shared their records with you, or the consent was revoked or has expired.</p>
      <div className="grid-2">
        <div>
          <h3>Ask the patient</h3>
          <p>The patient sees the request in their portal and can accept it.</p>
          <FormError error={request.error} />
          {request.isSuccess ? <p role="status">Request sent.</p> : null}
          <button type="button" onClick={() => request.mutate()} disabled={request.isPending || request.isSuccess}>
            Request access
          </button>
        </div>
        <form onSubmit={submit} className="break-glass">
          <h3>Emergency access (break-glass)</h3>
          <p>
            For an emergency only: opens the records for 24 hours. The patient is told, and the access is highlighted in
            their access log.
          </p>
          <Field label="Reason" id="break-glass-reason" hint={reasonHint(reason)}>
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
            Break the glass
          </button>
        </form>
      </div>
    </Section>
  );
}
