// A tiny SMART app for the browser tests (issue #17): a node HTTP server on a free port that
// does what a real app does, with nothing from the EHR but its URLs. `/standalone` (its scopes
// overridden by `?scope=`) and
// `/launch?iss&launch` (EHR launch) find the endpoints in `{iss}/.well-known/smart-configuration`,
// make a PKCE S256 verifier and a state, and send the browser to `authorization_endpoint`;
// `/callback` checks the state, exchanges the code at `token_endpoint` (public client:
// client_id and code_verifier), reads `Patient/{patient}` and searches Observation and
// Condition with the access token, and shows what it got (also kept for the test in
// `app.results`).

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const b64url = (buffer) => buffer.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export async function startSmartApp({ fhirBase, scope }) {
  const sessions = new Map();
  const results = [];
  let clientId = null;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://app');
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(body);
    };
    try {
      if (url.pathname === '/standalone' || url.pathname === '/launch') {
        const iss = url.searchParams.get('iss') ?? fhirBase;
        const launch = url.searchParams.get('launch');
        const config = await (await fetch(`${iss}/.well-known/smart-configuration`)).json();
        const verifier = b64url(randomBytes(48));
        const state = b64url(randomBytes(16));
        sessions.set(state, { verifier, iss, config, launch });
        const authorize = new URL(config.authorization_endpoint);
        const params = {
          response_type: 'code',
          client_id: clientId,
          redirect_uri: app.redirectUri,
          scope: launch ? scope.replace('launch/patient', 'launch') : (url.searchParams.get('scope') ?? scope),
          state,
          aud: iss,
          code_challenge: b64url(createHash('sha256').update(verifier).digest()),
          code_challenge_method: 'S256',
        };
        if (launch) params.launch = launch;
        for (const [key, value] of Object.entries(params)) authorize.searchParams.set(key, value);
        return send(302, '', { location: authorize.toString() });
      }
      if (url.pathname === '/callback') {
        const state = url.searchParams.get('state');
        const session = sessions.get(state);
        if (!session) return send(400, '<p id="result">unknown state</p>');
        sessions.delete(state);
        const result = { error: url.searchParams.get('error'), launch: Boolean(session.launch) };
        if (!result.error) {
          const token = await fetch(session.config.token_endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              code: url.searchParams.get('code'),
              redirect_uri: app.redirectUri,
              client_id: clientId,
              code_verifier: session.verifier,
            }),
          });
          result.tokenStatus = token.status;
          const body = await token.json();
          result.token = body;
          if (token.ok) {
            const get = async (path) => {
              const response = await fetch(`${session.iss}/${path}`, { headers: { authorization: `Bearer ${body.access_token}` } });
              return { status: response.status, body: await response.json().catch(() => null) };
            };
            result.patient = await get(`Patient/${body.patient}`);
            result.observations = await get(`Observation?patient=${body.patient}`);
            result.conditions = await get(`Condition?patient=${body.patient}`);
            // The same token for another patient: nothing.
            if (app.otherPatient) result.other = await get(`Patient/${app.otherPatient}`);
          }
        }
        results.push(result);
        const name = result.patient?.body?.name?.[0];
        return send(200, `<!doctype html><title>Test app</title><main><h1>Test app</h1><p id="result">${result.error ? `error: ${result.error}` : `patient: ${name ? `${(name.given ?? []).join(' ')} ${name.family ?? ''}` : 'none'}`}</p></main>`);
      }
      send(404, 'not found');
    } catch (error) {
      results.push({ failure: String(error) });
      send(500, `<p id="result">failure: ${String(error).replace(/</g, '&lt;')}</p>`);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const app = {
    origin,
    redirectUri: `${origin}/callback`,
    launchUri: `${origin}/launch`,
    results,
    otherPatient: null,
    setClientId: (id) => {
      clientId = id;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  return app;
}
