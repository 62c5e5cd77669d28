// SMART App Launch in the portals (issue #17): scopes in plain words (three languages), the
// consent screen (narrowing, Approve, Deny, refusals, sign-in first, axe), Connected apps,
// the physician's Launch app menu and the admin's SMART apps page, against a scripted server.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import axe from 'axe-core';
import { renderWithServer, outcome, type Call } from '../test-support';
import type { UserView } from '../api/types';
import { setActiveLanguage } from '../i18n/core';
import { describeScope, scopeActions } from './scopes';
import { ConsentPage } from './ConsentPage';
import { SmartRoutes, isSmartPath, smartStorageKey } from './SmartApp';
import { ConnectedApps } from './ConnectedApps';
import { LaunchMenu } from './LaunchMenu';
import { ClientsPage } from './ClientsPage';
import type { AuthorizationRequest } from './api';
import { AccessLogPage } from '../patient/AccessLogPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
  setActiveLanguage('en', ['en-US']);
});

const PATIENT: UserView = { id: 'u-pat', email: 'ada@example.org', name: 'Ada Example', role: 'patient', status: 'active', patient_id: 'p1', totp_enabled: false };
const DOCTOR: UserView = { id: 'u-doc', email: 'grace@example.org', name: 'Dr. Grace', role: 'physician', status: 'active', patient_id: null, totp_enabled: true };

const REQUEST: AuthorizationRequest = {
  client: { client_id: 'c1', name: 'Growth Chart', uri: 'https://growth.example', logo_uri: null },
  scopes: [
    { scope: 'openid', description: 'your identity', required: true },
    { scope: 'launch/patient', description: 'which patient', required: true },
    { scope: 'patient/Observation.rs', description: 'read observations', required: false },
    { scope: 'patient/Condition.rs', description: 'read conditions', required: false },
    { scope: 'offline_access', description: 'stay connected', required: false },
  ],
  patient: { id: 'p1', name: 'Ada Example' },
  launch: false,
  remembered: false,
  patients: null,
};

describe('scopes in words', () => {
  it('reads SMART v2 and v1 permissions', () => {
    expect(scopeActions('rs')).toEqual(['see']);
    expect(scopeActions('cruds')).toEqual(['see', 'change', 'delete']);
    expect(scopeActions('read')).toEqual(['see']);
    expect(scopeActions('write')).toEqual(['change', 'delete']);
    expect(scopeActions('*')).toEqual(['see', 'change', 'delete']);
  });

  it('describes resource, launch, identity and refresh scopes, and keeps the server words for others', () => {
    expect(describeScope('patient/Observation.rs')).toBe('Can see: Result or measurement, in the record of the patient chosen');
    expect(describeScope('user/*.read')).toBe('Can see: all kinds of records, in every record you may see');
    expect(describeScope('patient/Condition.cud')).toBe('Can add or change, delete: Condition, in the record of the patient chosen');
    expect(describeScope('patient/Observation.rs?category=laboratory')).toBe(
      'Can see: Result or measurement, in the record of the patient chosen (only category=laboratory)',
    );
    expect(describeScope('launch/patient')).toBe('Know which patient record to use');
    expect(describeScope('offline_access')).toBe('Keep access after you sign out, until you revoke it');
    expect(describeScope('urn:example:odd', 'something odd')).toBe('something odd');
  });

  it('says them in Spanish and Hindi', () => {
    setActiveLanguage('es', []);
    expect(describeScope('patient/Observation.rs')).toBe('Puede ver: Resultado o medición, en el historial del paciente elegido');
    setActiveLanguage('hi', []);
    expect(describeScope('offline_access')).toMatch(/^[\u0900-\u097F]/);
    expect(describeScope('patient/Observation.rs')).toMatch(/[\u0900-\u097F]/);
  });
});

describe('the SMART pages', () => {
  it('are the paths under /smart/, and use a portal session this tab holds', () => {
    expect(isSmartPath('/smart/authorize')).toBe(true);
    expect(isSmartPath('/smartphone')).toBe(false);
    expect(smartStorageKey({ getItem: () => null })).toBe('medilink.smart.session');
    expect(smartStorageKey({ getItem: (key) => (key === 'medilink.physician.session' ? '{}' : null) })).toBe('medilink.physician.session');
  });
});

function consentServer(decisions: Call[], answer: [number, unknown] = [200, REQUEST]) {
  return (call: Call): [number, unknown] | undefined => {
    if (call.method === 'GET' && call.url === '/api/smart/requests/r1') return answer;
    if (call.method === 'POST' && call.url === '/api/smart/requests/r1/decision') {
      decisions.push(call);
      const body = call.body as { approve: boolean };
      return [200, { redirect_to: body.approve ? 'https://growth.example/cb?code=abc&state=s' : 'https://growth.example/cb?error=access_denied&state=s' }];
    }
    return undefined;
  };
}

describe('ConsentPage', () => {
  it('shows the app, the patient and the scopes in words; a narrowed approval sends the rest and leaves for the app', async () => {
    const decisions: Call[] = [];
    const leave = vi.fn();
    const { container } = renderWithServer(<ConsentPage leave={leave} />, consentServer(decisions), { me: PATIENT, path: '/smart/authorize?request=r1' });
    await screen.findByRole('heading', { name: 'Allow Growth Chart to use your data?' });
    expect(screen.getByTestId('smart-app').textContent).toContain('https://growth.example');
    expect(screen.getByTestId('smart-patient').textContent).toBe('Ada Example');
    const required = screen.getByRole('checkbox', { name: /Know which patient record to use/ });
    expect((required as HTMLInputElement).disabled).toBe(true);
    expect((required as HTMLInputElement).checked).toBe(true);
    const conditions = screen.getByRole('checkbox', { name: /Condition/ }) as HTMLInputElement;
    fireEvent.click(conditions);
    expect(conditions.checked).toBe(false);
    const results = await axe.run(container, { runOnly: ['wcag2a', 'wcag2aa'], rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Allow' }));
    await waitFor(() => expect(leave).toHaveBeenCalledWith('https://growth.example/cb?code=abc&state=s'));
    expect(decisions[0].body).toEqual({ approve: true, scopes: ['openid', 'launch/patient', 'patient/Observation.rs', 'offline_access'] });
  });

  it('has an axe check that can fail (an unlabelled button and checkbox are caught)', async () => {
    const planted = document.createElement('form');
    planted.innerHTML = '<button type="button"></button><input type="checkbox">';
    document.body.append(planted);
    const results = await axe.run(planted, { runOnly: ['wcag2a', 'wcag2aa'] });
    planted.remove();
    expect(results.violations.map((v) => v.id)).toEqual(expect.arrayContaining(['button-name', 'label']));
  });

  it('denies: nothing granted, and the app is told', async () => {
    const decisions: Call[] = [];
    const leave = vi.fn();
    renderWithServer(<ConsentPage leave={leave} />, consentServer(decisions), { me: PATIENT, path: '/smart/authorize?request=r1' });
    fireEvent.click(await screen.findByRole('button', { name: 'Deny' }));
    await waitFor(() => expect(leave).toHaveBeenCalledWith('https://growth.example/cb?error=access_denied&state=s'));
    expect(decisions[0].body).toEqual({ approve: false, scopes: [] });
  });

  it('says an unknown or expired request (404) and a request of another user (403) cannot be used', async () => {
    renderWithServer(<ConsentPage leave={vi.fn()} />, consentServer([], [404, outcome('not-found', 'no such request')]), { me: PATIENT, path: '/smart/authorize?request=r1' });
    expect((await screen.findByRole('alert')).textContent).toContain('unknown or has expired');
    cleanup();
    renderWithServer(<ConsentPage leave={vi.fn()} />, consentServer([], [403, outcome('forbidden', 'another user')]), { me: PATIENT, path: '/smart/authorize?request=r1' });
    expect((await screen.findByRole('alert')).textContent).toContain('another user');
  });

  it('decides a remembered request at once, with the scopes asked and no screen', async () => {
    const decisions: Call[] = [];
    const leave = vi.fn();
    renderWithServer(<ConsentPage leave={leave} />, consentServer(decisions, [200, { ...REQUEST, remembered: true }]), { me: PATIENT, path: '/smart/authorize?request=r1' });
    await waitFor(() => expect(leave).toHaveBeenCalledWith('https://growth.example/cb?code=abc&state=s'));
    expect(decisions).toHaveLength(1);
    expect(decisions[0].body).toEqual({ approve: true, scopes: REQUEST.scopes.map((s) => s.scope) });
    expect(screen.queryByRole('button', { name: 'Allow' })).toBeNull();
  });

  it("sends the patient a physician picks (the picker lists the request's patients)", async () => {
    const decisions: Call[] = [];
    const leave = vi.fn();
    const picking = { ...REQUEST, patient: null, patients: [{ id: 'p1', name: 'Ada Example' }, { id: 'p2', name: 'Ben Example' }] };
    renderWithServer(<ConsentPage leave={leave} />, consentServer(decisions, [200, picking]), { me: PATIENT, path: '/smart/authorize?request=r1' });
    const picker = (await screen.findByTestId('smart-patient-picker')) as HTMLSelectElement;
    expect(Array.from(picker.options).map((o) => o.value)).toEqual(['', 'p1', 'p2']);
    fireEvent.change(picker, { target: { value: 'p2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Allow' }));
    await waitFor(() => expect(leave).toHaveBeenCalled());
    expect(decisions[0].body).toEqual({ approve: true, scopes: REQUEST.scopes.map((s) => s.scope), patient_id: 'p2' });
  });

  it('is in Hindi when the user reads Hindi', async () => {
    setActiveLanguage('hi', []);
    renderWithServer(<ConsentPage leave={vi.fn()} />, consentServer([]), { me: PATIENT, path: '/smart/authorize?request=r1' });
    await screen.findByRole('heading', { name: 'क्या Growth Chart को आपका डेटा उपयोग करने दें?' });
    expect(screen.getByRole('button', { name: 'अनुमति दें' })).toBeTruthy();
  });
});

describe('signing in first', () => {
  it('sends a signed-out user to the sign-in, then back to the request', async () => {
    const decisions: Call[] = [];
    const server = consentServer(decisions);
    renderWithServer(
      <SmartRoutes leave={vi.fn()} />,
      (call) =>
        call.url === '/api/auth/login'
          ? [200, { access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }]
          : server(call),
      { me: PATIENT, path: '/smart/authorize?request=r1', signedIn: false },
    );
    await screen.findByRole('heading', { name: 'Sign in to allow an app' });
    expect(screen.getByTestId('location').textContent).toBe('/smart/login');
    fireEvent.change(screen.getByLabelText('E-mail'), { target: { value: 'ada@example.org' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'violet tangerine harbour 47' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByRole('heading', { name: 'Allow Growth Chart to use your data?' });
    expect(screen.getByTestId('location').textContent).toBe('/smart/authorize?request=r1');
  });
});

describe('ConnectedApps', () => {
  it('lists the allowed apps with their scopes in words, and revokes one', async () => {
    let revoked = false;
    const { of } = renderWithServer(<ConnectedApps />, (call) => {
      if (call.method === 'GET' && call.url === '/api/smart/authorizations') {
        return [200, revoked ? [] : [{ client_id: 'c1', client_name: 'Growth Chart', scopes: ['patient/Observation.rs', 'offline_access'], granted_at: '2024-05-01T10:00:00Z', last_used_at: null }]];
      }
      if (call.method === 'DELETE' && call.url === '/api/smart/authorizations/c1') {
        revoked = true;
        return [204, null];
      }
      return undefined;
    }, { me: PATIENT });
    const list = await screen.findByTestId('connected-apps');
    within(list).getByText('Growth Chart');
    within(list).getByText('Keep access after you sign out, until you revoke it');
    fireEvent.click(screen.getByRole('button', { name: 'Revoke the access of Growth Chart' }));
    await screen.findByText('No app is connected.');
    expect(of('DELETE', '/api/smart/authorizations/c1')).toHaveLength(1);
  });

  it('shows nothing on a server without SMART (404)', async () => {
    const { container, of } = renderWithServer(<ConnectedApps />, (call) => (call.url === '/api/smart/authorizations' ? [404, outcome('not-found', 'no route')] : undefined), { me: PATIENT });
    await waitFor(() => expect(of('GET', '/api/smart/authorizations')).toHaveLength(1));
    await waitFor(() => expect(container.querySelector('#connected-apps')).toBeNull());
  });
});

describe('LaunchMenu', () => {
  const apps = [
    { client_id: 'c1', name: 'Growth Chart', launch_uri: 'https://growth.example/launch' },
    { client_id: 'c2', name: 'No Launch', launch_uri: null },
  ];

  it('opens the chosen app in a new tab with the launch URL the server made', async () => {
    const tab = { opener: {}, location: { href: '' }, close: vi.fn() };
    const { of } = renderWithServer(<LaunchMenu patientId="p1" open={() => tab as unknown as Window} />, (call) => {
      if (call.url === '/api/smart/apps') return [200, apps];
      if (call.method === 'POST' && call.url === '/api/smart/launch') return [200, { launch_url: 'https://growth.example/launch?iss=x&launch=L1' }];
      return undefined;
    }, { me: DOCTOR });
    fireEvent.click(await screen.findByRole('button', { name: 'Launch app' }));
    const list = screen.getByRole('list', { name: 'Apps to launch with this patient' });
    expect(within(list).queryByText('No Launch')).toBeNull();
    fireEvent.click(within(list).getByRole('button', { name: 'Growth Chart' }));
    await waitFor(() => expect(tab.location.href).toBe('https://growth.example/launch?iss=x&launch=L1'));
    expect(tab.opener).toBeNull();
    expect(of('POST', '/api/smart/launch')[0].body).toEqual({ client_id: 'c1', patient_id: 'p1' });
  });

  it('closes the tab and says so when the server refuses the launch', async () => {
    const tab = { opener: {}, location: { href: '' }, close: vi.fn() };
    renderWithServer(<LaunchMenu patientId="p9" open={() => tab as unknown as Window} />, (call) => {
      if (call.url === '/api/smart/apps') return [200, apps];
      if (call.url === '/api/smart/launch') return [404, outcome('not-found', 'Patient/p9 is not known')];
      return undefined;
    }, { me: DOCTOR });
    fireEvent.click(await screen.findByRole('button', { name: 'Launch app' }));
    fireEvent.click(screen.getByRole('button', { name: 'Growth Chart' }));
    await screen.findByRole('alert');
    expect(tab.close).toHaveBeenCalled();
    expect(tab.location.href).toBe('');
  });

  it('shows nothing without a launchable app', async () => {
    const { container, of } = renderWithServer(<LaunchMenu patientId="p1" />, (call) => (call.url === '/api/smart/apps' ? [200, [apps[1]]] : undefined), { me: DOCTOR });
    await waitFor(() => expect(of('GET', '/api/smart/apps')).toHaveLength(1));
    expect(container.querySelector('.launch-menu')).toBeNull();
  });
});

describe('ClientsPage', () => {
  it('lists the clients and approves a pending one, suspends an approved one', async () => {
    const clients = [
      { client_id: 'c1', name: 'Growth Chart', kind: 'public', status: 'pending', redirect_uris: ['https://growth.example/cb'], launch_uri: 'https://growth.example/launch', scope: 'launch patient/*.rs', created_at: '2024-05-01T10:00:00Z' },
      { client_id: 'c2', name: 'Backend', kind: 'confidential-asymmetric', status: 'approved', redirect_uris: [], launch_uri: null, scope: 'system/*.rs', created_at: '2024-05-01T10:00:00Z' },
    ];
    const { of } = renderWithServer(<ClientsPage />, (call) => {
      if (call.url === '/api/admin/smart/clients') return [200, clients];
      if (call.method === 'POST' && /\/api\/admin\/smart\/clients\/c\d\/(approve|suspend)/.test(call.url)) return [204, null];
      return undefined;
    });
    const table = await screen.findByTestId('smart-clients');
    within(table).getByText('public (PKCE)');
    within(table).getByText('https://growth.example/launch');
    fireEvent.click(screen.getByRole('button', { name: 'Approve Growth Chart' }));
    await waitFor(() => expect(of('POST', '/api/admin/smart/clients/c1/approve')).toHaveLength(1));
    fireEvent.click(screen.getByRole('button', { name: 'Suspend Backend' }));
    await waitFor(() => expect(of('POST', '/api/admin/smart/clients/c2/suspend')).toHaveLength(1));
  });
});

describe('the access log', () => {
  it('says which app an access came through (by name when the patient connected it, else its id)', async () => {
    const entry = (seq: number, app: string | null) => ({
      seq,
      at: '2024-05-01T10:00:00Z',
      actor: 'u-pat',
      actor_name: 'Ada Example',
      role: 'patient',
      action: 'read',
      resource_type: 'Patient',
      resource_ids: ['Patient/p1'],
      resource_types: ['Patient'],
      outcome: 200,
      grant: null,
      app,
      break_glass: false,
    });
    renderWithServer(<AccessLogPage />, (call) => {
      if (call.url.startsWith('/api/consents/access-log')) return [200, { entries: [entry(3, 'c1'), entry(2, 'c-gone'), entry(1, null)] }];
      if (call.url === '/api/smart/authorizations') return [200, [{ client_id: 'c1', client_name: 'Growth Chart', scopes: [], granted_at: '2024-05-01T10:00:00Z', last_used_at: null }]];
      return undefined;
    }, { me: PATIENT });
    await screen.findByText('through the app Growth Chart');
    const vias = screen.getAllByTestId('via-app').map((el) => el.textContent?.trim());
    expect(vias).toEqual(['through the app Growth Chart', 'through the app c-gone']);
  });
});
