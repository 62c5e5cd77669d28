// The consent screen of a SMART authorization (`/smart/authorize?request=ID`, where the
// server's `/oauth/authorize` sends the browser): which app asks, for which patient, the scopes
// it asks for in plain words (a required one cannot be unticked), then Approve or Deny. The
// server answers where the browser goes next (the app's redirect URI, with a code or
// `error=access_denied`). A request the user approved before (a remembered decision covering
// every scope asked) is decided at once without the screen; a physician's standalone launch
// picks one of the patients who consented to them.

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { useClient } from '../ui/session';
import { FormError, Loading } from '../ui/components';
import { translate as t } from '../i18n/core';
import { smartApi, type AuthorizationRequest } from './api';
import { describeScope } from './scopes';

/** Sends the browser to `url` (the app's redirect URI); tests pass their own. */
export function leavePage(url: string) {
  window.location.href = url;
}

/** What the user is told when the request itself is refused (`null`: another error). */
export function requestRefusal(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 404) return t('smart.expired');
  if (error.status === 403) return t('smart.otherUser');
  return null;
}

function ConsentForm({ requestId, request, leave }: { requestId: string; request: AuthorizationRequest; leave: (url: string) => void }) {
  const client = useClient();
  const [chosen, setChosen] = useState<Set<string>>(() => new Set(request.scopes.map((s) => s.scope)));
  const [picked, setPicked] = useState('');
  const decide = useMutation({
    mutationFn: (approve: boolean) =>
      smartApi.decide(client, requestId, {
        approve,
        scopes: approve ? request.scopes.filter((s) => s.required || chosen.has(s.scope)).map((s) => s.scope) : [],
        ...(approve && request.patients ? { patient_id: picked } : {}),
      }),
    onSuccess: (answer) => leave(answer.redirect_to),
  });
  const toggle = (scope: string, on: boolean) => {
    const next = new Set(chosen);
    if (on) next.add(scope);
    else next.delete(scope);
    setChosen(next);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    decide.mutate(true);
  };
  const app = request.client;
  return (
    <form className="card auth-card smart-consent" onSubmit={submit} aria-labelledby="smart-title">
      <h1 id="smart-title">{t('smart.title', { app: app.name })}</h1>
      <dl className="facts">
        <dt>{t('smart.app')}</dt>
        <dd data-testid="smart-app">
          {app.name}
          {app.uri ? (
            <>
              {' '}
              <a href={app.uri} target="_blank" rel="noopener noreferrer">
                {app.uri}
              </a>
            </>
          ) : null}
        </dd>
        {request.patient ? (
          <>
            <dt>{t('smart.patient')}</dt>
            <dd data-testid="smart-patient">{request.patient.name}</dd>
          </>
        ) : null}
      </dl>
      {request.patients ? (
        <label className="field">
          <span>{t('smart.pick')}</span>
          <select data-testid="smart-patient-picker" required value={picked} onChange={(e) => setPicked(e.target.value)} disabled={decide.isPending}>
            <option value="">{t('smart.pick.none')}</option>
            {request.patients.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name || p.id}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <fieldset>
        <legend>{t('smart.asks')}</legend>
        <ul className="plain-list smart-scopes">
          {request.scopes.map((s) => (
            <li key={s.scope}>
              <label className="check">
                <input
                  type="checkbox"
                  checked={s.required || chosen.has(s.scope)}
                  disabled={s.required || decide.isPending}
                  onChange={(e) => toggle(s.scope, e.target.checked)}
                  data-scope={s.scope}
                />{' '}
                <span>
                  {describeScope(s.scope, s.description)}
                  {s.required ? <span className="muted"> ({t('smart.required')})</span> : null}
                </span>
              </label>{' '}
              <code className="muted">{s.scope}</code>
            </li>
          ))}
        </ul>
      </fieldset>
      <p className="hint">{t('smart.hint')}</p>
      <FormError error={decide.error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={decide.isPending}>
          {t('smart.approve')}
        </button>
        <button type="button" className="danger" disabled={decide.isPending} onClick={() => decide.mutate(false)}>
          {t('smart.deny')}
        </button>
      </div>
    </form>
  );
}

/** A remembered decision: approved again at once with the scopes asked (no screen). */
function Remembered({ requestId, request, leave }: { requestId: string; request: AuthorizationRequest; leave: (url: string) => void }) {
  const client = useClient();
  const started = useRef(false);
  const decide = useMutation({
    mutationFn: () => smartApi.decide(client, requestId, { approve: true, scopes: request.scopes.map((s) => s.scope) }),
    onSuccess: (answer) => leave(answer.redirect_to),
  });
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    decide.mutate();
  }, [decide]);
  return (
    <div className="card auth-card" data-testid="smart-remembered">
      <p>{t('smart.remembered', { app: request.client.name })}</p>
      <FormError error={decide.error} />
    </div>
  );
}

export function ConsentPage({ leave = leavePage }: { leave?: (url: string) => void }) {
  const client = useClient();
  const [search] = useSearchParams();
  const requestId = search.get('request') ?? '';
  const request = useQuery({ queryKey: ['smart', 'request', requestId], queryFn: () => smartApi.request(client, requestId), enabled: Boolean(requestId), retry: false });
  if (!requestId || request.isError) {
    const refusal = requestId ? requestRefusal(request.error) : t('smart.expired');
    return (
      <div className="auth-page">
        <div className="card auth-card">
          <h1>{t('smart.unusable')}</h1>
          {refusal ? (
            <p className="form-error" role="alert">
              {refusal}
            </p>
          ) : (
            <FormError error={request.error} />
          )}
        </div>
      </div>
    );
  }
  return (
    <div className="auth-page">
      {request.isPending ? (
        <Loading label={t('smart.loading')} />
      ) : request.data.remembered ? (
        <Remembered requestId={requestId} request={request.data} leave={leave} />
      ) : (
        <ConsentForm requestId={requestId} request={request.data} leave={leave} />
      )}
    </div>
  );
}
