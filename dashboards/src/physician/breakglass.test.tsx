import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { SessionProvider } from '../ui/session';
import { AccessPanel, BREAK_GLASS_MIN_CHARS, reasonHint, reasonLongEnough } from './AccessPanel';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

describe('break-glass reason', () => {
  it('needs the server minimum of 20 characters after trimming', () => {
    expect(BREAK_GLASS_MIN_CHARS).toBe(20);
    expect(reasonLongEnough('Unconscious')).toBe(false);
    expect(reasonLongEnough(`  ${'x'.repeat(19)}  `)).toBe(false);
    expect(reasonLongEnough('x'.repeat(20))).toBe(true);
    // Characters, as the server counts them: an emoji is one.
    expect(reasonLongEnough('🚑'.repeat(20))).toBe(true);
  });

  it('says how many characters are missing', () => {
    expect(reasonHint('')).toMatch(/at least 20 characters\. 20 more to go\./);
    expect(reasonHint('Unconscious')).toMatch(/9 more to go/);
    expect(reasonHint('x'.repeat(25))).not.toMatch(/more to go/);
  });

  it('holds the button back until the reason is long enough', () => {
    window.sessionStorage.setItem('test.session', JSON.stringify({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }));
    const calls: string[] = [];
    vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
      calls.push(String(input));
      const body = String(input).startsWith('/api/consents') ? { consents: [] } : { id: 'me', email: 'd@example.org', name: 'Dr', role: 'physician', status: 'active', patient_id: null, totp_enabled: true };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <SessionProvider storageKey="test.session">
          <AccessPanel patientId="p1" />
        </SessionProvider>
      </QueryClientProvider>,
    );
    const reason = screen.getByLabelText('Reason');
    const button = screen.getByRole('button', { name: 'Break the glass' });
    fireEvent.change(reason, { target: { value: 'Unconscious' } });
    expect(button).toHaveProperty('disabled', true);
    expect(screen.getByText(/9 more to go/)).toBeTruthy();
    fireEvent.submit(reason.closest('form') as HTMLFormElement);
    expect(calls.some((url) => url.includes('break-glass'))).toBe(false);
    fireEvent.change(reason, { target: { value: 'Unconscious, no relatives reachable' } });
    expect(button).toHaveProperty('disabled', false);
  });
});
