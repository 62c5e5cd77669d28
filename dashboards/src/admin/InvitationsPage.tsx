// Researcher invitations: create one for an e-mail address (the link is shown once, to copy
// and send), see which are pending, accepted, revoked or expired, and revoke a pending one.

import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import type { Invitation } from '../api/types';

export type InvitationState = 'pending' | 'accepted' | 'revoked' | 'expired';

const STATES: readonly InvitationState[] = ['pending', 'accepted', 'revoked', 'expired'];

/** The state of an invitation: the server's, else (an older answer) from its instants at `now`. */
export function invitationState(
  invitation: Pick<Invitation, 'expires_at'> & Partial<Pick<Invitation, 'accepted_at' | 'revoked_at' | 'status'>>,
  now = Date.now(),
): InvitationState {
  const stated = STATES.find((state) => state === invitation.status);
  if (stated) return stated;
  if (invitation.accepted_at) return 'accepted';
  if (invitation.revoked_at) return 'revoked';
  return Date.parse(invitation.expires_at) <= now ? 'expired' : 'pending';
}

/** What is wrong with the form (the server checks again). */
export function invitationProblems(email: string, hours: string): string[] {
  const problems: string[] = [];
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) problems.push('Enter the e-mail address of the researcher.');
  const n = Number(hours);
  if (!Number.isInteger(n) || n < 1 || n > 720) problems.push('The link must stay valid for 1 to 720 hours.');
  return problems;
}

function CreatedLink({ invitation, onDismiss }: { invitation: Invitation; onDismiss: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  const copy = async () => {
    input.current?.select();
    try {
      await navigator.clipboard.writeText(invitation.url ?? '');
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Select the link and copy it (Ctrl+C).');
    }
  };
  return (
    <div className="notice notice-good created-link" role="status">
      <p>
        <strong>Invitation created for {invitation.email}.</strong> Send this link to them. It is shown only now: the server keeps no copy. It
        is valid until {formatDateTime(invitation.expires_at)} and works once.
      </p>
      <div className="inline-form">
        <Field label="Invitation link" id="invitation-link">
          <input id="invitation-link" ref={input} readOnly value={invitation.url ?? ''} onFocus={(e) => e.target.select()} data-testid="invitation-link" />
        </Field>
        <div className="actions">
          <button type="button" className="primary" onClick={() => void copy()}>
            Copy link
          </button>
          <button type="button" onClick={onDismiss}>
            Done
          </button>
        </div>
      </div>
      {copied ? <p aria-live="polite">{copied}</p> : null}
    </div>
  );
}

export function InvitationsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [hours, setHours] = useState('72');
  const [problems, setProblems] = useState<string[]>([]);
  const [created, setCreated] = useState<Invitation | null>(null);
  const list = useQuery({ queryKey: ['admin', 'invitations'], queryFn: () => client.invitations() });
  const create = useMutation({
    mutationFn: () => client.createInvitation({ email: email.trim(), expires_in_hours: Number(hours) }),
    onSuccess: (invitation) => {
      setCreated(invitation);
      setEmail('');
      void queryClient.invalidateQueries({ queryKey: ['admin', 'invitations'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (invitation: Invitation) => client.revokeInvitation(invitation.id),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ['admin', 'invitations'] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = invitationProblems(email, hours);
    setProblems(found);
    if (found.length === 0) create.mutate();
  };
  return (
    <>
      <PageTitle>Researcher invitations</PageTitle>
      <Section title="Invite a researcher" id="invite">
        <p>Researchers join by invitation only. They receive a link, choose their name and password, and then see the research page only.</p>
        {created ? <CreatedLink invitation={created} onDismiss={() => setCreated(null)} /> : null}
        <form className="inline-form" onSubmit={submit} noValidate aria-label="Invite a researcher">
          <Field label="E-mail of the researcher" id="invite-email">
            <input id="invite-email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field label="Valid for (hours)" id="invite-hours" hint="1 to 720 (30 days)">
            <input id="invite-hours" type="number" min={1} max={720} value={hours} onChange={(e) => setHours(e.target.value)} aria-describedby="invite-hours-hint" />
          </Field>
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create invitation'}
          </button>
        </form>
        {problems.length ? (
          <ul className="form-error" role="alert">
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        ) : null}
        <FormError error={create.error} />
      </Section>
      <Section title="Invitations" id="invitations">
        <FormError error={revoke.error} />
        <QueryState query={list} empty="No invitation yet.">
          {(invitations) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Invitations</caption>
                <thead>
                  <tr>
                    <th scope="col">E-mail</th>
                    <th scope="col">State</th>
                    <th scope="col">Created</th>
                    <th scope="col">Valid until</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {invitations.map((invitation) => {
                    const state = invitationState(invitation);
                    return (
                      <tr key={invitation.id}>
                        <th scope="row">{invitation.email}</th>
                        <td>
                          <Badge tone={state === 'accepted' ? 'good' : state === 'pending' ? 'info' : 'neutral'}>{state}</Badge>
                          {invitation.accepted_at ? <span className="muted"> {formatDateTime(invitation.accepted_at)}</span> : null}
                        </td>
                        <td className="num">{formatDateTime(invitation.created_at)}</td>
                        <td className="num">{formatDateTime(invitation.expires_at)}</td>
                        <td>
                          {state === 'pending' ? (
                            <button
                              type="button"
                              className="danger"
                              aria-label={`Revoke the invitation of ${invitation.email}`}
                              disabled={revoke.isPending}
                              onClick={() => revoke.mutate(invitation)}
                            >
                              Revoke
                            </button>
                          ) : null}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </QueryState>
      </Section>
    </>
  );
}
