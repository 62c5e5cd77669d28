import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { SessionProvider } from '../ui/session';
import { ClinicianPicker, clinicianLabel, directoryTerm, resultsStatus } from './ClinicianPicker';
import { actorLabel } from './AccessLogPage';
import { granteeLabel } from './ConsentsPage';
import type { AccessLogEntry, Clinician, Grant } from '../api/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const hopper: Clinician = { id: 'u-hopper', name: 'Grace Hopper', role: 'physician' };
const nameless: Clinician = { id: 'u-quiet', name: null, role: 'physician' };

describe('clinician directory helpers', () => {
  it('searches from two characters, trimmed', () => {
    expect(directoryTerm('')).toBeNull();
    expect(directoryTerm('  g ')).toBeNull();
    expect(directoryTerm(' gr ')).toBe('gr');
    expect(directoryTerm('Grace H')).toBe('Grace H');
  });

  it('names a clinician, or says it has no name', () => {
    expect(clinicianLabel(hopper)).toBe('Grace Hopper');
    expect(clinicianLabel(nameless)).toBe('Clinician without a name');
  });

  it('announces the state of the search', () => {
    expect(resultsStatus(null, false, 0, false)).toMatch(/at least 2 letters/);
    expect(resultsStatus('gr', true, 0, false)).toBe('Searching…');
    expect(resultsStatus('gr', false, 0, false)).toMatch(/No clinician found/);
    expect(resultsStatus('gr', false, 1, false)).toMatch(/^1 clinician found/);
    expect(resultsStatus('gr', false, 3, false)).toMatch(/^3 clinicians found/);
    expect(resultsStatus('gr', false, 0, true)).toMatch(/cannot be searched/);
  });
});

describe('access log actor', () => {
  const entry = (patch: Partial<AccessLogEntry>): AccessLogEntry => ({
    seq: 1,
    at: '2024-01-01T00:00:00Z',
    actor: 'u-hopper',
    actor_name: 'Grace Hopper',
    role: 'physician',
    action: 'read',
    resource_type: 'Patient',
    resource_ids: ['Patient/p1'],
    resource_types: ['Patient'],
    outcome: 200,
    grant: null,
    app: null,
    break_glass: false,
    ...patch,
  });

  // Issue #16: never a bare account id; the server sends the e-mail of a nameless account.
  it('shows the name or e-mail, never the id', () => {
    expect(actorLabel(entry({}))).toBe('Grace Hopper');
    expect(actorLabel(entry({ actor_name: 'dr.quiet@clinic.test' }))).toBe('dr.quiet@clinic.test');
    expect(actorLabel(entry({ actor_name: null }))).not.toContain('u-hopper');
    expect(actorLabel(entry({ actor: null, actor_name: null }))).toBe('MediLink (system)');
  });
});

describe('consent grantee', () => {
  const grant = (grantee_name: string | null): Grant => ({
    id: 'c1',
    patient: 'p1',
    grantee: 'u-0190aa4e-uuid',
    grantee_name,
    scope: '*',
    purpose: 'TREAT',
    start: '2024-01-01T00:00:00Z',
    end: null,
    status: 'active',
    initiator: 'patient',
    break_glass: false,
    reason: null,
  });

  it('is named by name or e-mail, never by the account id', () => {
    expect(granteeLabel(grant('Grace Hopper'))).toBe('Grace Hopper');
    expect(granteeLabel(grant('dr.quiet@clinic.test'))).toBe('dr.quiet@clinic.test');
    expect(granteeLabel(grant(null))).not.toContain('uuid');
  });
});

/** The picker in a signed-in session whose server answers the directory with `clinicians`. */
function renderPicker(clinicians: Clinician[]) {
  window.sessionStorage.setItem('test.session', JSON.stringify({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }));
  const urls: string[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
    const url = String(input);
    urls.push(url);
    const body = url.startsWith('/api/directory/clinicians')
      ? { clinicians }
      : { id: 'me', email: 'p@example.org', name: null, role: 'patient', status: 'active', patient_id: 'p1', totp_enabled: false };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  });
  const chosen: Clinician[] = [];
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queryClient}>
      <SessionProvider storageKey="test.session">
        <ClinicianPicker onChoose={(clinician) => chosen.push(clinician)} />
      </SessionProvider>
    </QueryClientProvider>,
  );
  return { urls, chosen, input: screen.getByRole('combobox', { name: 'Find a clinician by name' }) };
}

describe('ClinicianPicker', () => {
  it('searches once the typing settles, and chooses with the keyboard', async () => {
    const { urls, chosen, input } = renderPicker([hopper, nameless]);
    act(() => input.focus());
    for (const text of ['g', 'gr', 'gra', 'grac']) fireEvent.change(input, { target: { value: text } });
    const options = await screen.findAllByRole('option');
    expect(options.map((o) => o.textContent)).toEqual(['Grace Hopper', 'Clinician without a name']);
    const searches = urls.filter((url) => url.startsWith('/api/directory/clinicians'));
    expect(searches).toEqual(['/api/directory/clinicians?q=grac&limit=10']);
    expect(input.getAttribute('aria-expanded')).toBe('true');
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    expect(input.getAttribute('aria-activedescendant')).toBe(options[0].id);
    expect(options[0].getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(chosen).toEqual([hopper]);
    expect((input as HTMLInputElement).value).toBe('Grace Hopper');
    await waitFor(() => expect(input.getAttribute('aria-expanded')).toBe('false'));
  });

  it('closes on Escape, reopens with the arrow keys and chooses with a click', async () => {
    const { chosen, input } = renderPicker([nameless]);
    act(() => input.focus());
    fireEvent.change(input, { target: { value: 'quiet' } });
    const option = await screen.findByRole('option', { name: /Clinician without a name/ });
    fireEvent.keyDown(input, { key: 'Escape' });
    expect(input.getAttribute('aria-expanded')).toBe('false');
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    expect(input.getAttribute('aria-expanded')).toBe('true');
    fireEvent.click(option);
    expect(chosen).toEqual([nameless]);
  });

  it('says so when nothing matches', async () => {
    const { input } = renderPicker([]);
    act(() => input.focus());
    fireEvent.change(input, { target: { value: 'nobody' } });
    await screen.findByText('No clinician found with this name.');
    expect(screen.queryAllByRole('option')).toHaveLength(0);
  });
});
