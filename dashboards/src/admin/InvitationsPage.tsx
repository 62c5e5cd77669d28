// Researcher invitations: create one for an e-mail address (the link is shown once, to copy
// and send), see which are pending, accepted, revoked or expired, and revoke a pending one.

import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import type { Invitation } from '../api/types';
import { translate as t } from '../i18n/core';

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
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) problems.push(t('adm.inv.badEmail'));
  const n = Number(hours);
  if (!Number.isInteger(n) || n < 1 || n > 720) problems.push(t('adm.inv.badHours'));
  return problems;
}

function CreatedLink({ invitation, onDismiss }: { invitation: Invitation; onDismiss: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  const copy = async () => {
    input.current?.select();
    try {
      await navigator.clipboard.writeText(invitation.url ?? '');
      setCopied(t('adm.inv.copied'));
    } catch {
      setCopied(t('adm.inv.copyByHand'));
    }
  };
  return (
    <div className="notice notice-good created-link" role="status">
      <p>
        <strong>{t('adm.inv.createdFor', { email: invitation.email })}</strong> {t('adm.inv.createdText', { when: formatDateTime(invitation.expires_at) })}
      </p>
      <div className="inline-form">
        <Field label={t('adm.inv.link')} id="invitation-link">
          <input id="invitation-link" ref={input} readOnly value={invitation.url ?? ''} onFocus={(e) => e.target.select()} data-testid="invitation-link" />
        </Field>
        <div className="actions">
          <button type="button" className="primary" onClick={() => void copy()}>
            {t('adm.inv.copy')}
          </button>
          <button type="button" onClick={onDismiss}>
            {t('adm.inv.done')}
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
      <PageTitle>{t('adm.inv.title')}</PageTitle>
      <Section title={t('adm.inv.invite')} id="invite">
        <p>{t('adm.inv.intro')}</p>
        {created ? <CreatedLink invitation={created} onDismiss={() => setCreated(null)} /> : null}
        <form className="inline-form" onSubmit={submit} noValidate aria-label={t('adm.inv.invite')}>
          <Field label={t('adm.inv.email')} id="invite-email">
            <input id="invite-email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field label={t('adm.inv.hours')} id="invite-hours" hint={t('adm.inv.hours.hint')}>
            <input id="invite-hours" type="number" min={1} max={720} value={hours} onChange={(e) => setHours(e.target.value)} aria-describedby="invite-hours-hint" />
          </Field>
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? t('adm.inv.creating') : t('adm.inv.create')}
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
      <Section title={t('adm.inv.list')} id="invitations">
        <FormError error={revoke.error} />
        <QueryState query={list} empty={t('adm.inv.none')}>
          {(invitations) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">{t('adm.inv.list')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('adm.col.email')}</th>
                    <th scope="col">{t('adm.col.state')}</th>
                    <th scope="col">{t('adm.col.created')}</th>
                    <th scope="col">{t('adm.col.validUntil')}</th>
                    <th scope="col">{t('adm.col.actions')}</th>
                  </tr>
                </thead>
                <tbody>
                  {invitations.map((invitation) => {
                    const state = invitationState(invitation);
                    return (
                      <tr key={invitation.id}>
                        <th scope="row">{invitation.email}</th>
                        <td>
                          <Badge tone={state === 'accepted' ? 'good' : state === 'pending' ? 'info' : 'neutral'}>{t(`adm.inv.state.${state}`)}</Badge>
                          {invitation.accepted_at ? <span className="muted"> {formatDateTime(invitation.accepted_at)}</span> : null}
                        </td>
                        <td className="num">{formatDateTime(invitation.created_at)}</td>
                        <td className="num">{formatDateTime(invitation.expires_at)}</td>
                        <td>
                          {state === 'pending' ? (
                            <button
                              type="button"
                              className="danger"
                              aria-label={t('adm.inv.revokeOf', { email: invitation.email })}
                              disabled={revoke.isPending}
                              onClick={() => revoke.mutate(invitation)}
                            >
                              {t('adm.inv.revoke')}
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
