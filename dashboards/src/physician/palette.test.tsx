import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { SessionProvider } from '../ui/session';
import { filterCommands, matchScore, moveSelection, type Command } from './palette';
import { SHORTCUTS, isTyping, shortcutAction } from './shortcuts';
import { CommandPalette } from './CommandPalette';
import { consentGroups } from './ConsentsPage';
import { groupHits } from './SearchPage';
import { patientOf } from './records';
import type { Grant } from '../api/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const page = (label: string, keywords: string[] = []): Command => ({ id: label, group: 'pages', label, keywords, to: `/${label}` });

describe('palette filtering', () => {
  const commands = [page('Dashboard'), page('Patients'), page('Interaction checker', ['drugs']), page('Settings', ['language', 'password'])];

  it('matches word starts before inner matches, every word required', () => {
    expect(filterCommands(commands, 'pat').map((c) => c.label)).toEqual(['Patients']);
    expect(filterCommands(commands, 'check').map((c) => c.label)).toEqual(['Interaction checker']);
    expect(filterCommands(commands, 'drug').map((c) => c.label)).toEqual(['Interaction checker']);
    expect(filterCommands(commands, 'int chk')).toEqual([]);
    expect(filterCommands(commands, 'word').map((c) => c.label)).toEqual(['Settings']);
    expect(matchScore(page('Patients'), 'pat')).toBeGreaterThan(matchScore(page('Compatible'), 'pat') ?? 0);
  });

  it('ignores case and accents, keeps the order of ties, and limits', () => {
    expect(filterCommands([page('Configuración')], 'CONFIGURACION').map((c) => c.label)).toEqual(['Configuración']);
    expect(filterCommands(commands, '').map((c) => c.label)).toEqual(commands.map((c) => c.label));
    expect(filterCommands(commands, '', 2)).toHaveLength(2);
  });

  it('moves the selection, wrapping around', () => {
    expect(moveSelection(0, 1, 3)).toBe(1);
    expect(moveSelection(2, 1, 3)).toBe(0);
    expect(moveSelection(0, -1, 3)).toBe(2);
    expect(moveSelection(-1, 1, 3)).toBe(0);
    expect(moveSelection(-1, -1, 3)).toBe(2);
    expect(moveSelection(1, 1, 0)).toBe(-1);
  });
});

describe('keyboard shortcuts', () => {
  it('opens the palette with Ctrl-K or ⌘K, even while typing', () => {
    expect(shortcutAction({ key: 'k', ctrlKey: true }, null).action).toBe('palette');
    expect(shortcutAction({ key: 'K', metaKey: true, typing: true }, null).action).toBe('palette');
    expect(shortcutAction({ key: 'k', ctrlKey: true, altKey: true }, null).action).toBeUndefined();
  });

  it('goes to a page with g and a letter, and forgets a wrong letter', () => {
    const first = shortcutAction({ key: 'g' }, null);
    expect(first).toEqual({ pending: 'g', action: undefined });
    expect(shortcutAction({ key: 'p' }, first.pending)).toEqual({ action: 'go:/patients', pending: null });
    expect(shortcutAction({ key: 'x' }, 'g')).toEqual({ action: undefined, pending: null });
    expect(shortcutAction({ key: 'c' }, 'g').action).toBe('go:/consents');
  });

  it('takes single keys only outside text fields', () => {
    expect(shortcutAction({ key: '?' }, null).action).toBe('help');
    expect(shortcutAction({ key: '/' }, null).action).toBe('go:/search');
    expect(shortcutAction({ key: '/', typing: true }, null).action).toBeUndefined();
    expect(shortcutAction({ key: 'g', typing: true }, null).pending).toBeNull();
    const input = document.createElement('input');
    expect(isTyping(input)).toBe(true);
    input.type = 'checkbox';
    expect(isTyping(input)).toBe(false);
    expect(isTyping(document.createElement('textarea'))).toBe(true);
    expect(isTyping(document.createElement('button'))).toBe(false);
  });

  it('lists every shortcut once', () => {
    const keys = SHORTCUTS.map((s) => s.keys.join(' '));
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('consents and search helpers', () => {
  const grant = (patch: Partial<Grant>): Grant => ({
    id: 'c1',
    patient: 'p1',
    grantee: 'u1',
    grantee_name: 'Dr. Test',
    scope: '*',
    purpose: 'TREAT',
    start: '2024-01-01T00:00:00Z',
    end: null,
    status: 'active',
    initiator: 'patient',
    break_glass: false,
    reason: null,
    ...patch,
  });

  it('sorts grants into sharing, emergency, pending and ended, newest first', () => {
    const groups = consentGroups([
      grant({ id: 'old', start: '2023-01-01T00:00:00Z' }),
      grant({ id: 'new', start: '2024-02-01T00:00:00Z' }),
      grant({ id: 'glass', break_glass: true }),
      grant({ id: 'asked', status: 'proposed', initiator: 'physician' }),
      grant({ id: 'gone', status: 'revoked' }),
      grant({ id: 'over', status: 'expired' }),
    ]);
    expect(groups.sharing.map((g) => g.id)).toEqual(['new', 'old']);
    expect(groups.emergency.map((g) => g.id)).toEqual(['glass']);
    expect(groups.pending.map((g) => g.id)).toEqual(['asked']);
    expect(groups.ended.map((g) => g.id).sort()).toEqual(['gone', 'over']);
  });

  it('groups hits by type in order of their best hit', () => {
    const groups = groupHits([
      { resourceType: 'Observation', id: 'o1' },
      { resourceType: 'Patient', id: 'p1' },
      { resourceType: 'Observation', id: 'o2' },
    ]);
    expect(groups.map((g) => [g.type, g.hits.length])).toEqual([
      ['Observation', 2],
      ['Patient', 1],
    ]);
  });

  it("finds the patient a record belongs to", () => {
    expect(patientOf({ resourceType: 'Patient', id: 'p1' })).toBe('p1');
    expect(patientOf({ resourceType: 'Observation', subject: { reference: 'Patient/p2' } } as fhir4.Observation)).toBe('p2');
    expect(patientOf({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p3' } } as fhir4.AllergyIntolerance)).toBe('p3');
    expect(patientOf({ resourceType: 'Observation', subject: { reference: 'Group/g' } } as fhir4.Observation)).toBeUndefined();
  });
});

function Where() {
  return <p data-testid="where">{useLocation().pathname + useLocation().search}</p>;
}

function renderPalette(handler: (url: URL) => unknown) {
  window.sessionStorage.setItem('palette.test', JSON.stringify({ access_token: 'a', refresh_token: 'r' }));
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL) => {
      const url = new URL(String(input), 'http://localhost');
      const body = handler(url) ?? { resourceType: 'Bundle', type: 'searchset', entry: [] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }),
  );
  const onClose = vi.fn();
  const onHelp = vi.fn();
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/']}>
        <SessionProvider storageKey="palette.test">
          <Routes>
            <Route
              path="*"
              element={
                <>
                  <CommandPalette onClose={onClose} onHelp={onHelp} />
                  <Where />
                </>
              }
            />
          </Routes>
        </SessionProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { onClose, onHelp };
}

describe('the command palette', () => {
  it('is a combobox: arrows move the active option, Enter opens it', async () => {
    const { onClose } = renderPalette(() => undefined);
    const input = screen.getByRole('combobox', { name: 'Page, patient or record' });
    expect(document.activeElement).toBe(input);
    fireEvent.change(input, { target: { value: 'pat' } });
    const options = screen.getAllByRole('option');
    expect(options[0].textContent).toContain('Patients');
    expect(input.getAttribute('aria-activedescendant')).toBe(options[0].id);
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    const active = screen.getAllByRole('option').find((o) => o.getAttribute('aria-selected') === 'true');
    expect(active?.textContent).toContain('Search everything for “pat”');
    fireEvent.keyDown(input, { key: 'ArrowUp' });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(onClose).toHaveBeenCalled();
    expect(screen.getByTestId('where').textContent).toBe('/patients');
  });

  it('offers patients and records the server finds, and opens a record’s patient', async () => {
    renderPalette((url) => {
      if (url.pathname === '/fhir/R4/Patient') {
        return { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient', id: 'p1', name: [{ given: ['Ada'], family: 'Lovelace' }] } }] };
      }
      if (url.pathname === '/api/search') return { results: [{ resourceType: 'Observation', id: 'o1', display: 'Glucose' }], total: 1 };
      if (url.pathname === '/fhir/R4/Observation/o1') return { resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/p9' } };
      return undefined;
    });
    const input = screen.getByRole('combobox');
    fireEvent.change(input, { target: { value: 'gluc' } });
    await screen.findByRole('option', { name: /Ada Lovelace/ });
    const record = await screen.findByRole('option', { name: /Glucose/ });
    await act(async () => {
      fireEvent.click(record);
    });
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/patients/p9'));
  });

  it('closes with Escape', () => {
    const { onClose } = renderPalette(() => undefined);
    fireEvent.keyDown(screen.getByRole('combobox'), { key: 'Escape' });
    expect(onClose).toHaveBeenCalled();
  });
});
