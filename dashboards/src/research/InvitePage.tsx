// Accepting a researcher invitation (`/invite/{token}`, public: the token is the credential):
// the invitee chooses a name and a password, then signs in. An unknown link (404) and a used,
// revoked or expired one (410) each say what to do.

import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { useSession } from '../ui/session';
import { Field, FormError } from '../ui/components';
import type { LoginState } from '../ui/LoginPage';

/** What an invitee is told when the server refuses the link itself (`null`: another error). */
export function invitationRefusal(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 404) {
    return 'This invitation link is not valid. Check that you opened the whole link from the message, or ask the administrator for a new invitation.';
  }
  if (error.status === 410) {
    return 'This invitation can no longer be used: it was already accepted, revoked or has expired. Ask the administrator for a new one.';
  }
  return null;
}

export function InvitePage() {
  const { token = '' } = useParams();
  const { client } = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [problem, setProblem] = useState('');
  const accept = useMutation({
    mutationFn: () => client.acceptInvitation(token, { name: name.trim(), password }),
    onSuccess: (user) => {
      const state: LoginState = { email: user.email, notice: 'Your researcher account is ready. Sign in with your new password.', from: '/research' };
      navigate('/login', { replace: true, state });
    },
  });
  const refusal = invitationRefusal(accept.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) return setProblem('Enter your name.');
    if (password !== confirm) return setProblem('The passwords differ.');
    setProblem('');
    accept.mutate();
  };
  return (
    <div className="auth-page">
      {refusal ? (
        <div className="card auth-card">
          <h1>Invitation not usable</h1>
          <p className="form-error" role="alert">
            {refusal}
          </p>
          <p>
            Already have an account? <Link to="/login">Sign in</Link>
          </p>
        </div>
      ) : (
        <form className="card auth-card" onSubmit={submit} aria-labelledby="invite-title" noValidate>
          <h1 id="invite-title">Join MediLink as a researcher</h1>
          <p>You were invited to request de-identified research exports. Choose your name and a password.</p>
          <Field label="Your name" id="invite-name">
            <input id="invite-name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label="Password" id="invite-password" hint="At least 12 characters and hard to guess: a few uncommon words work best.">
            <input
              id="invite-password"
              type="password"
              autoComplete="new-password"
              required
              aria-describedby="invite-password-hint"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <Field label="Repeat the password" id="invite-confirm">
            <input id="invite-confirm" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
          </Field>
          {problem ? (
            <p className="form-error" role="alert">
              {problem}
            </p>
          ) : null}
          <FormError error={accept.error} />
          <button type="submit" className="primary" disabled={accept.isPending}>
            {accept.isPending ? 'Creating your account…' : 'Create my account'}
          </button>
        </form>
      )}
    </div>
  );
}
