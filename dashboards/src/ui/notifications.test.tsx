import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ReactNode } from 'react';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider, focusManager } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { SessionProvider } from './session';
import { NotificationBell, NotificationsPage, POLL_MS, bellLabel } from './notifications';
import { NotificationPreferencesSection, preferencesPayload } from './NotificationPreferences';
import { groupKinds, kindLabel, NOTIFICATION_KINDS, portalPath, type NotificationPreferences, type NotificationView, type PreferencesInput } from '../api/notifications';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const me = { id: 'u1', email: 'd@example.org', name: null, role: 'physician', status: 'active', patient_id: null, totp_enabled: true };

type Handler = (method: string, url: URL, body: unknown) => { status: number; body?: unknown } | undefined;

/** A signed-in session whose server answers with `handler` (and `/api/auth/me`). */
function renderWith(ui: ReactNode, handler: Handler, path = '/') {
  window.sessionStorage.setItem('test.session', JSON.stringify({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }));
  const calls: { method: string; url: string; body: unknown }[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ method, url: url.pathname + url.search, body });
    const answer = url.pathname === '/api/auth/me' ? { status: 200, body: me } : handler(method, url, body) ?? { status: 404, body: outcome('not found') };
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <SessionProvider storageKey="test.session">
          <Routes>
            <Route path="*" element={ui} />
            <Route path="/patients/:id" element={<h1>Patients page</h1>} />
          </Routes>
        </SessionProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

function outcome(diagnostics: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics }] };
}

const notice = (n: number, patch: Partial<NotificationView> = {}): NotificationView => ({
  id: `n${n}`,
  kind: 'consent.granted',
  title: `Consent granted ${n}`,
  body: `A patient shared their records (${n}).`,
  link: '/consents',
  created_at: `2024-03-0${n}T10:00:00Z`,
  read_at: null,
  mandatory: false,
  ...patch,
});

describe('the bell', () => {
  it('names the unread count, and hides it at 0', () => {
    expect(bellLabel(3)).toBe('Notifications, 3 unread');
    expect(bellLabel(0)).toBe('Notifications');
    expect(bellLabel(undefined)).toBe('Notifications');
  });

  it('shows the unread count of the server and links to the inbox', async () => {
    const calls = renderWith(<NotificationBell />, (_m, url) =>
      url.pathname === '/api/notifications' ? { status: 200, body: { notifications: [notice(1)], unread: 3, next: null } } : undefined,
    );
    const bell = await screen.findByRole('link', { name: 'Notifications, 3 unread' }, { timeout: 5000 });
    expect(bell.getAttribute('href')).toBe('/notifications');
    expect(screen.getByTestId('bell-count').textContent).toBe('3');
    expect(calls.some((c) => c.url === '/api/notifications?limit=1')).toBe(true);
  });

  it('shows no count when everything is read', async () => {
    const calls = renderWith(<NotificationBell />, (_m, url) =>
      url.pathname === '/api/notifications' ? { status: 200, body: { notifications: [], unread: 0, next: null } } : undefined,
    );
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/notifications'))).toBe(true));
    expect(screen.getByRole('link', { name: 'Notifications' })).toBeTruthy();
    expect(screen.queryByTestId('bell-count')).toBeNull();
  });

  it('asks again every 30 seconds and when the window regains focus', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      let unread = 1;
      const calls = renderWith(<NotificationBell />, (_m, url) =>
        url.pathname === '/api/notifications' ? { status: 200, body: { notifications: [], unread, next: null } } : undefined,
      );
      await screen.findByRole('link', { name: 'Notifications, 1 unread' });
      const asked = () => calls.filter((c) => c.url.startsWith('/api/notifications')).length;
      expect(asked()).toBe(1);
      unread = 2;
      await act(() => vi.advanceTimersByTimeAsync(POLL_MS));
      await screen.findByRole('link', { name: 'Notifications, 2 unread' });
      expect(asked()).toBe(2);
      unread = 5;
      act(() => {
        focusManager.setFocused(false);
        focusManager.setFocused(true);
      });
      await screen.findByRole('link', { name: 'Notifications, 5 unread' });
      expect(asked()).toBe(3);
    } finally {
      focusManager.setFocused(undefined);
      vi.useRealTimers();
    }
  });
});

describe('the inbox', () => {
  /** A server with `total` notices (newest first) in pages; reads are recorded. */
  function inboxServer(all: NotificationView[]) {
    const read = new Set<string>();
    const handler: Handler = (method, url) => {
      if (method === 'GET' && url.pathname === '/api/notifications') {
        const limit = Number(url.searchParams.get('limit') ?? 20);
        const before = url.searchParams.get('before');
        const from = before ? all.findIndex((n) => n.id === before) + 1 : 0;
        const page = all.slice(from, from + limit).map((n) => (read.has(n.id) ? { ...n, read_at: '2024-03-10T00:00:00Z' } : n));
        const next = from + limit < all.length ? page[page.length - 1].id : null;
        const unread = all.filter((n) => !n.read_at && !read.has(n.id)).length;
        return { status: 200, body: { notifications: page, unread, next } };
      }
      const one = url.pathname.match(/^\/api\/notifications\/([^/]+)\/read$/);
      if (method === 'POST' && url.pathname === '/api/notifications/read-all') {
        all.forEach((n) => read.add(n.id));
        return { status: 204 };
      }
      if (method === 'POST' && one) {
        read.add(one[1]);
        return { status: 204 };
      }
      return undefined;
    };
    return { handler, read };
  }

  it('lists the notices newest first, marking the unread ones in words', async () => {
    const { read_at: _unread, ...absent } = notice(1);
    const { handler } = inboxServer([notice(3), notice(2, { read_at: '2024-03-02T11:00:00Z' }), absent]);
    renderWith(<NotificationsPage portal="physician" />, handler, '/notifications');
    const items = await screen.findAllByTestId('notification');
    expect(items.map((item) => item.getAttribute('data-read'))).toEqual(['false', 'true', 'false']);
    expect(within(items[0]).getByText('Unread')).toBeTruthy();
    expect(within(items[1]).queryByText('Unread')).toBeNull();
    expect(within(items[0]).getByText('A patient shared their records (3).')).toBeTruthy();
    // A consent notice leads to the physician's consents page (issue #16).
    expect(within(items[0]).getByRole('link', { name: 'Consent granted 3' }).getAttribute('href')).toBe('/consents');
    expect(items[0].querySelector('time')?.getAttribute('datetime')).toBe('2024-03-03T10:00:00Z');
    expect(screen.getByTestId('unread-summary').textContent).toBe('2 unread');
  });

  it('marks one notice read, and all of them', async () => {
    const { handler, read } = inboxServer([notice(3), notice(2), notice(1)]);
    const calls = renderWith(<NotificationsPage portal="physician" />, handler, '/notifications');
    await screen.findByText('3 unread');
    fireEvent.click(screen.getByRole('button', { name: 'Mark as read: Consent granted 2' }));
    await screen.findByText('2 unread');
    expect([...read]).toEqual(['n2']);
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/notifications/n2/read')).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Mark all as read' }));
    await screen.findByText('All read.');
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/notifications/read-all')).toBe(true);
    expect(screen.queryAllByRole('button', { name: /^Mark as read/ })).toHaveLength(0);
    expect((screen.getByRole('button', { name: 'Mark all as read' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('marks a notice read when its link is opened', async () => {
    const { handler, read } = inboxServer([notice(1, { link: '/patients/p1' })]);
    renderWith(<NotificationsPage portal="physician" />, handler, '/notifications');
    fireEvent.click(await screen.findByRole('link', { name: 'Consent granted 1' }));
    await screen.findByText('Patients page');
    await waitFor(() => expect([...read]).toEqual(['n1']));
  });

  it('loads more with the cursor of the last page', async () => {
    const all = Array.from({ length: 25 }, (_, i) => notice(i + 1, { id: `n${i + 1}`, created_at: '2024-03-01T10:00:00Z' }));
    const { handler } = inboxServer(all);
    const calls = renderWith(<NotificationsPage portal="physician" />, handler, '/notifications');
    await waitFor(() => expect(screen.getAllByTestId('notification')).toHaveLength(20));
    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(screen.getAllByTestId('notification')).toHaveLength(25));
    expect(calls.some((c) => c.url === '/api/notifications?limit=20&before=n20')).toBe(true);
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('says so when there is nothing', async () => {
    renderWith(<NotificationsPage portal="patient" />, inboxServer([]).handler, '/notifications');
    await screen.findByText(/You have no notifications/);
    expect(screen.queryByRole('list', { name: 'Notifications' })).toBeNull();
  });
});

describe('notice links', () => {
  it('stay within the portal', () => {
    expect(portalPath('/patient/consents', 'patient')).toBe('/consents');
    expect(portalPath('/consents', 'patient')).toBe('/consents');
    expect(portalPath('/patient/results', 'patient')).toBe('/labs');
    expect(portalPath('/settings/security', 'patient')).toBe('/security');
    expect(portalPath('/consents', 'physician')).toBe('/consents');
    expect(portalPath('/patients/p1#documents', 'physician')).toBe('/patients/p1#documents');
    expect(portalPath('/patient/consents', 'physician')).toBe('/');
    expect(portalPath('https://evil.example/security', 'physician')).toBe('/security');
    expect(portalPath('/nowhere', 'physician')).toBe('/');
    // Issue #15: the research and admin sections live in the staff portal.
    expect(portalPath('/research', 'physician')).toBe('/research');
    expect(portalPath('/admin/users', 'physician')).toBe('/admin/users');
  });
});

describe('notification preferences', () => {
  const preferences = (): NotificationPreferences => ({
    language: 'en',
    quiet_hours: null,
    kinds: Object.fromEntries(
      NOTIFICATION_KINDS.map((kind) => [kind, { in_app: true, email: true, mandatory: kind.startsWith('security.') }]),
    ),
  });

  it('groups every kind the server lists, with human labels', () => {
    const groups = groupKinds([...NOTIFICATION_KINDS, 'future.kind']);
    expect(groups.map((g) => g.title)).toEqual(['Consents', 'Documents and results', 'Account and security', 'Research', 'Other']);
    expect(groups.flatMap((g) => g.kinds)).toHaveLength(NOTIFICATION_KINDS.length + 1);
    expect(kindLabel('consent.granted')).toBe('A patient grants you access');
    expect(kindLabel('future.kind')).toBe('future.kind');
  });

  it('never turns a mandatory kind or the inbox off in the payload', () => {
    const body = preferencesPayload('hi', { on: true, start: '22:00', end: '07:00', timezone: '+05:30' }, {
      'security.new_sign_in': { in_app: false, email: false, mandatory: true },
      'results.filed': { in_app: false, email: false, mandatory: false },
    });
    expect(body).toEqual({
      language: 'hi',
      quiet_hours: { start: '22:00', end: '07:00', timezone: '+05:30' },
      kinds: {
        'security.new_sign_in': { in_app: true, email: true, mandatory: true },
        'results.filed': { in_app: true, email: false, mandatory: false },
      },
    });
  });

  it('shows mandatory kinds always on and disabled, and saves the choices', async () => {
    let saved: unknown;
    const calls = renderWith(<NotificationPreferencesSection />, (method, url, body) => {
      if (url.pathname !== '/api/notifications/preferences') return undefined;
      if (method === 'PUT') {
        saved = body;
        return { status: 200, body };
      }
      return { status: 200, body: preferences() };
    });
    const mandatory = await screen.findByRole('checkbox', { name: 'By e-mail: Sign-in from a new device or place' });
    expect((mandatory as HTMLInputElement).checked).toBe(true);
    expect((mandatory as HTMLInputElement).disabled).toBe(true);
    expect(mandatory.getAttribute('aria-describedby')).toBe('mandatory-note');
    expect(screen.getByText(/cannot be turned off/)).toBeTruthy();
    expect(screen.getByRole('rowheader', { name: 'Research' })).toBeTruthy();
    const results = screen.getByRole('checkbox', { name: 'By e-mail: New results in your record' }) as HTMLInputElement;
    expect(results.disabled).toBe(false);
    fireEvent.click(results);
    expect(results.checked).toBe(false);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Hold e-mail during quiet hours' }));
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '21:30' } });
    fireEvent.change(screen.getByLabelText('Until'), { target: { value: '06:45' } });
    fireEvent.change(screen.getByLabelText('Time zone (offset from UTC)'), { target: { value: '+05:30' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save notification preferences' }));
    await screen.findByText('Your notification preferences are saved.');
    const body = saved as Required<PreferencesInput>;
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(1);
    // The language is Settings' Language section's: the stored one is kept.
    expect(body.language).toBe('en');
    expect(body.quiet_hours).toEqual({ start: '21:30', end: '06:45', timezone: '+05:30' });
    expect(body.kinds['results.filed']).toEqual({ in_app: true, email: false, mandatory: false });
    expect(body.kinds['security.new_sign_in']).toEqual({ in_app: true, email: true, mandatory: true });
    expect(Object.keys(body.kinds)).toHaveLength(NOTIFICATION_KINDS.length);
  });

  it("shows the server's diagnostics when it refuses", async () => {
    renderWith(<NotificationPreferencesSection />, (method, url) => {
      if (url.pathname !== '/api/notifications/preferences') return undefined;
      if (method === 'PUT') return { status: 400, body: outcome('quiet hours: the time zone "Mars/Olympus" is neither UTC nor ±HH:MM') };
      return { status: 200, body: preferences() };
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Save notification preferences' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('neither UTC nor ±HH:MM');
    expect(screen.queryByText('Your notification preferences are saved.')).toBeNull();
  });
});
