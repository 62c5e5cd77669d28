// Tests only: render a page in a signed-in session against a scripted server (`fetch`
// stubbed), inside a router at `path`.

import { vi } from 'vitest';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import type { ReactNode } from 'react';
import { SessionProvider } from './ui/session';
import type { UserView } from './api/types';

export interface Call {
  method: string;
  url: string;
  body: unknown;
}

/** Answers a call with `[status, body]`, or `undefined` (the test fails: unexpected call). */
export type Handler = (call: Call) => [number, unknown] | undefined;

export const ADMIN: UserView = { id: 'u-admin', email: 'admin@example.org', name: 'Ada Admin', role: 'admin', status: 'active', patient_id: null, totp_enabled: true };

export const outcome = (code: string, diagnostics: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] });

/** The router's current location, for assertions (`data-testid="location"`). */
function Location() {
  const location = useLocation();
  return <span data-testid="location">{location.pathname + location.search}</span>;
}

export function renderWithServer(
  ui: ReactNode,
  handler: Handler,
  { me = ADMIN, path = '/', route = '*', signedIn = true }: { me?: UserView; path?: string; route?: string; signedIn?: boolean } = {},
) {
  if (signedIn) {
    window.sessionStorage.setItem('test.session', JSON.stringify({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }));
  }
  const calls: Call[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = { method: init?.method ?? 'GET', url: String(input), body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    const answer: [number, unknown] | undefined = call.url === '/api/auth/me' ? [200, me] : handler(call);
    if (!answer) throw new Error(`unexpected ${call.method} ${call.url}`);
    const [status, body] = answer;
    return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <SessionProvider storageKey="test.session">
          <Routes>
            <Route path={route} element={ui} />
            <Route path="*" element={<p>elsewhere</p>} />
          </Routes>
          <Location />
        </SessionProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...result, calls, queryClient, of: (method: string, path: string) => calls.filter((c) => c.method === method && c.url.startsWith(path)) };
}
