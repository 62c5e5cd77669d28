// Sharing: grant a clinician access (found by name in the directory, or by pasted id; scope
// and expiry), answer their requests, revoke.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import type { Clinician, ConsentStatus, Grant } from '../api/types';
import { ClinicianPicker, clinicianLabel } from './ClinicianPicker';

/** Record types a patient can share one by one. */
export const SCOPE_TYPES: { type: string; label: string }[] = [
  { type: 'Observation', label: 'Vital signs and lab results' },
  { type: 'Condition', label: 'Conditions' },
  { type: 'MedicationRequest', label: 'Medications' },
  { type: 'AllergyIntolerance', label: 'Allergies' },
  { type: 'Immunization', label: 'Immunizations' },
  { type: 'Encounter', label: 'Visits' },
  { type: 'DocumentReference', label: 'Documents' },
  { type: 'DiagnosticReport', label: 'Reports' },
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
  if (scope === '*') return 'All records';
  return scope.map((type) => SCOPE_TYPES.find((s) => s.type === type)?.label ?? type).join(', ');
}

/** Who a consent is with: the clinician's name, else their e-mail (the server's
 * `grantee_name`), never the bare account id. */
export function granteeLabel(grant: Grant): string {
  return grant.grantee_name ?? 'A clinician whose account was removed';
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
      <PageTitle>Sharing</PageTitle>
      <Section title="Share your records with a clinician">
        <form onSubmit={submit} noValidate>
          <ClinicianPicker
            onChoose={(clinician) => {
              setChosen(clinician);
              setGrantee(clinician.id);
            }}
          />
          <Field label="Clinician ID" id="grantee" hint="Filled in when you choose a clinician above; your clinician can also read it on their MediLink dashboard.">
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
              Sharing with <strong>{clinicianLabel(chosen)}</strong>
            </p>
          ) : null}
          <fieldset>
            <legend>What to share</legend>
            <label className="check">
              <input type="radio" name="scope" checked={everything} onChange={() => setEverything(true)} /> All my records
            </label>
            <label className="check">
              <input type="radio" name="scope" checked={!everything} onChange={() => setEverything(false)} /> Only these:
            </label>
            {!everything ? (
              <div className="check-grid">
                {SCOPE_TYPES.map((s) => (
                  <label key={s.type} className="check">
                    <input type="checkbox" checked={types.includes(s.type)} onChange={() => toggle(s.type)} /> {s.label}
                  </label>
                ))}
              </div>
            ) : null}
          </fieldset>
          <Field label="Share until (optional)" id="until" hint="Leave empty to share until you revoke.">
            <input id="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} aria-describedby="until-hint" />
          </Field>
          <FormError error={grant.error} />
          <button type="submit" className="primary" disabled={grant.isPending || !grantee.trim() || (!everything && types.length === 0)}>
            Share
          </button>
        </form>
      </Section>
      <Section title="Your consents">
        <QueryState query={consents} empty="You have not shared your records with anyone." loadingLabel="Loading consents…">
          {(grants) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Consents</caption>
                <thead>
                  <tr>
                    <th scope="col">Clinician</th>
                    <th scope="col">Status</th>
                    <th scope="col">Shared</th>
                    <th scope="col">From</th>
                    <th scope="col">Until</th>
                    <th scope="col">Actions</th>
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
                              <Badge tone="bad">Emergency access</Badge> {g.reason ? <span>Reason: {g.reason}</span> : null}
                            </>
                          ) : g.initiator === 'physician' && g.status === 'proposed' ? (
                            <>
                              <br />
                              <span className="muted">Asked for access</span>
                            </>
                          ) : null}
                        </td>
                        <td>
                          <Badge tone={TONE[g.status]}>{g.status}</Badge>
                        </td>
                        <td>{scopeText(g.scope)}</td>
                        <td>{formatDateTime(g.start, locale)}</td>
                        <td>{g.end ? formatDateTime(g.end, locale) : 'Until revoked'}</td>
                        <td className="actions">
                          {g.status === 'proposed' && g.initiator === 'physician' ? (
                            <>
                              <button type="button" className="primary" onClick={() => answer.mutate({ id: g.id, accept: true })}>
                                Accept
                              </button>
                              <button type="button" onClick={() => answer.mutate({ id: g.id, accept: false })}>
                                Decline
                              </button>
                            </>
                          ) : null}
                          {g.status === 'active' ? (
                            <button type="button" className="danger" onClick={() => revoke.mutate(g.id)} aria-label={`Revoke access of ${granteeLabel(g)}`}>
                              Revoke
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
