import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, buildQuery, memoryTokenStore, nextLink } from './client';
import type { TokenPair } from './types';

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: BodyInit | null | undefined;
}

/** A scripted `fetch`: answers in order, records the calls. */
function scripted(answers: ((call: Call) => Response)[]) {
  const calls: Call[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = {
      method: init?.method ?? 'GET',
      url: String(input),
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body,
    };
    calls.push(call);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected call ${call.method} ${call.url}`);
    return answer(call);
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const tokens = (n: number): TokenPair => ({ access_token: `a${n}`, refresh_token: `r${n}`, token_type: 'Bearer', expires_in: 900 });

const outcome = (code: string, diagnostics: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, diagnostics }],
});

describe('ApiClient', () => {
  it('signs in, asking for the TOTP code when the account has one', async () => {
    const store = memoryTokenStore();
    const { fetch, calls } = scripted([json(200, { mfa_required: true, partial_token: 'p' }), json(200, tokens(1))]);
    const client = new ApiClient({ store, fetch });
    expect(await client.login('a@example.org', 'pw')).toEqual({ kind: 'totp-required' });
    expect(store.load()).toBeNull();
    expect(await client.login('a@example.org', 'pw', '123456')).toEqual({ kind: 'signed-in', tokens: tokens(1) });
    expect(store.load()).toEqual(tokens(1));
    expect(calls[0].headers.authorization).toBeUndefined();
    expect(JSON.parse(String(calls[1].body))).toEqual({ email: 'a@example.org', password: 'pw', totp_code: '123456' });
  });

  it('refreshes an expired access token once and retries with the new one', async () => {
    const store = memoryTokenStore(tokens(1));
    const { fetch, calls } = scripted([
      json(401, outcome('login', 'the token has expired')),
      json(200, tokens(2)),
      json(200, { id: 'u1', role: 'patient' }),
    ]);
    const client = new ApiClient({ store, fetch });
    const me = await client.me();
    expect(me.id).toBe('u1');
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /api/auth/me', 'POST /api/auth/refresh', 'GET /api/auth/me']);
    expect(JSON.parse(String(calls[1].body))).toEqual({ refresh_token: 'r1' });
    expect(calls[0].headers.authorization).toBe('Bearer a1');
    expect(calls[2].headers.authorization).toBe('Bearer a2');
    expect(store.load()).toEqual(tokens(2));
  });

  it('signs out when the refresh token is refused', async () => {
    const store = memoryTokenStore(tokens(1));
    let signedOut = 0;
    const { fetch } = scripted([json(401, outcome('login', 'the token was revoked')), json(401, outcome('login', 'no'))]);
    const client = new ApiClient({ store, fetch, onSignedOut: () => signedOut++ });
    const error = await client.consents().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(401);
    expect((error as ApiError).message).toBe('the token was revoked');
    expect(store.load()).toBeNull();
    expect(signedOut).toBe(1);
  });

  it('turns OperationOutcomes and network failures into ApiErrors', async () => {
    const { fetch } = scripted([
      json(403, outcome('forbidden', 'no consent covers this patient')),
      () => {
        throw new TypeError('Failed to fetch');
      },
    ]);
    const client = new ApiClient({ store: memoryTokenStore(tokens(1)), fetch });
    const forbidden = (await client.read('Patient', 'p1').catch((e: unknown) => e)) as ApiError;
    expect(forbidden.forbidden).toBe(true);
    expect(forbidden.code).toBe('forbidden');
    expect(forbidden.message).toBe('no consent covers this patient');
    const offline = (await client.me().catch((e: unknown) => e)) as ApiError;
    expect(offline.status).toBe(0);
    expect(offline.message).toMatch(/cannot be reached/);
  });

  it('follows next links of a search and keeps only matches', async () => {
    const page1 = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 3,
      link: [{ relation: 'next', url: 'http://host:8080/fhir/R4/Observation?_count=2&_cursor=abc' }],
      entry: [
        { resource: { resourceType: 'Observation', id: 'o1' }, search: { mode: 'match' } },
        { resource: { resourceType: 'Observation', id: 'o2' }, search: { mode: 'match' } },
        { resource: { resourceType: 'Patient', id: 'p' }, search: { mode: 'include' } },
      ],
    };
    const page2 = { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Observation', id: 'o3' } }] };
    const { fetch, calls } = scripted([json(200, page1), json(200, page2)]);
    const client = new ApiClient({ store: memoryTokenStore(tokens(1)), fetch });
    const result = await client.searchAll<fhir4.Observation>('Observation', { patient: 'Patient/p', _count: 2, code: undefined });
    expect(result.resources.map((r) => r.id)).toEqual(['o1', 'o2', 'o3']);
    expect(result.total).toBe(3);
    expect(calls[0].url).toBe('/fhir/R4/Observation?patient=Patient%2Fp&_count=2');
    expect(calls[1].url).toBe('/fhir/R4/Observation?_count=2&_cursor=abc');
  });

  it('uploads a document as multipart with the patient', async () => {
    const { fetch, calls } = scripted([json(202, { job_id: 'j1', status: 'pending' })]);
    const client = new ApiClient({ store: memoryTokenStore(tokens(1)), fetch });
    const submitted = await client.uploadDocument('Patient/p1', new Blob(['Glucose 90 mg/dL'], { type: 'text/plain' }), 'report.txt');
    expect(submitted.job_id).toBe('j1');
    const form = calls[0].body as FormData;
    expect(form.get('patient')).toBe('Patient/p1');
    expect((form.get('file') as File).name).toBe('report.txt');
    expect(calls[0].headers['content-type']).toBeUndefined();
  });

  it('looks clinicians up in the directory by name', async () => {
    const clinicians = [{ id: 'u1', name: 'Grace Hopper', role: 'physician' }];
    const { fetch, calls } = scripted([json(200, { clinicians })]);
    const client = new ApiClient({ store: memoryTokenStore(tokens(1)), fetch });
    expect(await client.clinicians('grace h')).toEqual(clinicians);
    expect(calls[0].method).toBe('GET');
    expect(calls[0].url).toBe('/api/directory/clinicians?q=grace+h&limit=10');
    expect(calls[0].headers.authorization).toBe('Bearer a1');
  });

  it('keeps the new session after TOTP enrolment, without the backup codes', async () => {
    const store = memoryTokenStore(tokens(1));
    const { fetch } = scripted([json(200, { ...tokens(2), backup_codes: ['aaaaa-bbbbb'] })]);
    const client = new ApiClient({ store, fetch });
    const verified = await client.totpVerify('123456');
    expect(verified.backup_codes).toEqual(['aaaaa-bbbbb']);
    expect(store.load()).toEqual(tokens(2));
  });
});

describe('helpers', () => {
  it('builds queries without empty values and next links as same-origin paths', () => {
    expect(buildQuery({ a: 'x y', b: undefined, c: '', d: 0 })).toBe('?a=x+y&d=0');
    expect(buildQuery({})).toBe('');
    expect(nextLink({ resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: 'https://x.org/fhir/R4/Patient?_cursor=1' }] })).toBe(
      '/fhir/R4/Patient?_cursor=1',
    );
    expect(nextLink({ resourceType: 'Bundle', type: 'searchset' })).toBeUndefined();
  });
});
