// The admin section (issue #15): filters → URL → API query, the account actions and the
// server's refusals, the audit page's filters, the chain status, break-glass cases, invitations.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { buildQuery } from '../api/client';
import type { AdminHealth, AuditRecord, UserView } from '../api/types';
import { renderWithServer, outcome } from '../test-support';
import { dayStart } from '../ui/dates';
import {
  NO_AUDIT_FILTERS,
  auditFilterProblems,
  auditFiltersFromSearch,
  auditFiltersToSearch,
  auditQuery,
  userFiltersFromSearch,
  userFiltersToSearch,
  userQuery,
} from './filters';
import { statusActions } from './hooks';
import { UserActions } from './UserActions';
import { UsersPage } from './UsersPage';
import { AuditPage } from './AuditPage';
import { ChainStatus, chainSummary, verifyResult } from './ChainStatus';
import { breakGlassCases } from './BreakGlassPage';
import { InvitationsPage, invitationProblems, invitationState } from './InvitationsPage';
import { addSamples, formatLatency } from './SystemPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const user = (patch: Partial<UserView> = {}): UserView => ({
  id: 'u-1',
  email: 'grace@example.org',
  name: 'Dr. Grace Hopper',
  role: 'physician',
  status: 'active',
  patient_id: null,
  totp_enabled: true,
  ...patch,
});

const record = (patch: Partial<AuditRecord> = {}): AuditRecord => ({
  seq: 10,
  at: '2024-05-01T10:00:00Z',
  actor: 'u-doc',
  role: 'physician',
  action: 'read',
  outcome: 200,
  client_ip: null,
  hash: 'h',
  request_id: 'r',
  resource_type: 'Observation',
  resource_types: ['Observation'],
  resource_ids: ['Observation/o1'],
  patients: { p1: ['Observation/o1'] },
  ...patch,
});

describe('audit filters', () => {
  const filters = { ...NO_AUDIT_FILTERS, actor: ' u-doc ', patient: 'Patient/p1', action: '', from: '2024-05-01', to: '2024-05-03', breakGlass: true };

  it('become the API query: whole days, the end day included, break-glass only when asked', () => {
    const query = auditQuery(filters, { before: 120, limit: 50 });
    expect(query).toEqual({
      actor: 'u-doc',
      patient: 'p1',
      since: dayStart('2024-05-01'),
      until: dayStart('2024-05-04'),
      break_glass: true,
      before: 120,
      limit: 50,
    });
    expect(new Date(query.until!).getTime() - new Date(query.since!).getTime()).toBe(3 * 86_400_000);
    const text = buildQuery({ ...query });
    expect(text).toContain('break_glass=true');
    expect(text).toContain('actor=u-doc');
    expect(text).toContain('before=120');
    expect(buildQuery({ ...auditQuery(NO_AUDIT_FILTERS) })).toBe('');
  });

  it('round-trip through the URL', () => {
    const search = auditFiltersToSearch(filters);
    expect(search.toString()).toBe('actor=u-doc&patient=Patient%2Fp1&from=2024-05-01&to=2024-05-03&break_glass=true');
    expect(auditQuery({ ...NO_AUDIT_FILTERS, action: ' consent-grant ' }).action).toBe('consent-grant');
    expect(auditFiltersFromSearch(search)).toEqual({ ...filters, actor: 'u-doc' });
    expect(auditFiltersToSearch(NO_AUDIT_FILTERS).toString()).toBe('');
    expect(auditFiltersFromSearch(new URLSearchParams('break_glass=yes')).breakGlass).toBe(false);
  });

  it('refuse a reversed or impossible date range', () => {
    expect(auditFilterProblems(filters)).toEqual([]);
    expect(auditFilterProblems({ ...filters, from: '2024-05-04' })).toEqual(['The end date is before the start date.']);
    expect(auditFilterProblems({ ...filters, to: '2024-02-31' })).toEqual(['The end date is not a date.']);
    expect(dayStart('2024-02-31')).toBeUndefined();
    // The server reads break_glass=true as action=break-glass (400 for another action).
    expect(auditFilterProblems({ ...filters, action: 'read' })).toEqual(['Break-glass only shows the break-glass records: clear the action, or choose break-glass.']);
    expect(auditFilterProblems({ ...filters, action: 'break-glass' })).toEqual([]);
  });
});

describe('user filters', () => {
  it('round-trip through the URL and page the API query', () => {
    const search = userFiltersToSearch({ q: ' grace ', role: 'physician', status: '' });
    expect(search.toString()).toBe('q=grace&role=physician');
    expect(userFiltersFromSearch(search)).toEqual({ q: 'grace', role: 'physician', status: '' });
    expect(userQuery({ q: 'grace', role: '', status: 'pending' }, { limit: 25, offset: 50 })).toEqual({ q: 'grace', status: 'pending', limit: 25, offset: 50 });
  });

  it('offer the status changes an account allows', () => {
    expect(statusActions(user({ status: 'pending' }))).toEqual(['approve', 'suspend']);
    expect(statusActions(user({ status: 'active' }))).toEqual(['suspend']);
    expect(statusActions(user({ status: 'suspended' }))).toEqual(['reinstate']);
  });
});

describe('UserActions', () => {
  it('shows the server\'s 409 when the last admin would lose the role', async () => {
    const me = user({ id: 'u-admin', role: 'admin', name: 'Ada Admin', email: 'admin@example.org' });
    const { of } = renderWithServer(<UserActions user={me} />, (call) =>
      call.method === 'PUT' && call.url === '/api/admin/users/u-admin/role' ? [409, outcome('business-rule', 'cannot remove the last admin')] : undefined,
    );
    fireEvent.change(screen.getByLabelText('New role of Ada Admin'), { target: { value: 'researcher' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply the new role of Ada Admin' }));
    expect((await screen.findByRole('alert')).textContent).toBe('cannot remove the last admin');
    expect(of('PUT', '/api/admin/users/u-admin/role')[0].body).toEqual({ role: 'researcher' });
  });

  it('reinstates a suspended account and says so; patients have no role choice', async () => {
    const suspended = user({ status: 'suspended' });
    renderWithServer(<UserActions user={suspended} />, (call) =>
      call.method === 'POST' && call.url === '/api/admin/users/u-1/reinstate' ? [200, { ...suspended, status: 'active' }] : undefined,
    );
    expect(screen.queryByRole('button', { name: 'Suspend Dr. Grace Hopper' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Reinstate Dr. Grace Hopper' }));
    expect((await screen.findByRole('status')).textContent).toBe('Dr. Grace Hopper reinstated.');
    cleanup();
    renderWithServer(<UserActions user={user({ role: 'patient', name: 'Pat' })} />, () => undefined);
    expect(screen.queryByLabelText('New role of Pat')).toBeNull();
  });
});

describe('UsersPage', () => {
  it('searches with the form, keeps the filters in the URL and approves a pending physician', async () => {
    const pending = user({ id: 'u-new', name: 'Dr. New', email: 'new@example.org', status: 'pending' });
    let approved = false;
    const { of } = renderWithServer(
      <UsersPage />,
      (call) => {
        if (call.url.startsWith('/api/admin/users?pending=true')) return [200, { users: approved ? [] : [pending], total: approved ? 0 : 1 }];
        if (call.url.startsWith('/api/admin/users?')) return [200, { users: [user()], total: 1 }];
        if (call.url === '/api/admin/users/u-new/approve') {
          approved = true;
          return [200, { ...pending, status: 'active' }];
        }
        return undefined;
      },
      { path: '/admin/users?role=physician' },
    );
    const list = await screen.findByRole('list', { name: 'Physicians waiting for approval' });
    await screen.findByRole('cell', { name: 'grace@example.org' });
    expect(of('GET', '/api/admin/users?limit=25')[0].url).toBe('/api/admin/users?limit=25&offset=0&role=physician');
    fireEvent.change(screen.getByLabelText('Name or e-mail'), { target: { value: 'grace' } });
    fireEvent.click(screen.getByRole('button', { name: 'Search' }));
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/admin/users?q=grace&role=physician'));
    await waitFor(() => expect(of('GET', '/api/admin/users?limit=25').map((c) => c.url)).toContain('/api/admin/users?limit=25&offset=0&q=grace&role=physician'));
    fireEvent.click(within(list).getByRole('button', { name: 'Approve Dr. New' }));
    expect((await screen.findByText('Dr. New approved.')).getAttribute('role')).toBe('status');
    await screen.findByText('No physician is waiting for approval.');
  });
});

describe('AuditPage', () => {
  it('asks the server for break-glass records only once the filter is applied', async () => {
    const { of } = renderWithServer(
      <AuditPage />,
      (call) => {
        if (call.url === '/api/admin/audit/verify') return [404, outcome('not-found', 'no verification yet')];
        if (call.url.startsWith('/api/admin/audit')) return [200, { records: [record({ action: 'break-glass', seq: 11 }), record()] }];
        return undefined;
      },
      { path: '/admin/audit' },
    );
    await screen.findByText('2 records shown');
    expect(of('GET', '/api/admin/audit?')[0].url).toBe('/api/admin/audit?limit=50');
    fireEvent.click(screen.getByLabelText('Break-glass only'));
    fireEvent.change(screen.getByLabelText('Patient id'), { target: { value: 'p1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/admin/audit?patient=p1&break_glass=true'));
    await waitFor(() => expect(of('GET', '/api/admin/audit?').map((c) => c.url)).toContain('/api/admin/audit?patient=p1&break_glass=true&limit=50'));
    expect(screen.getByTestId('chain-status').textContent).toContain('Not verified yet');
  });

  it('does not send a reversed date range', async () => {
    const { of } = renderWithServer(
      <AuditPage />,
      (call) => (call.url === '/api/admin/audit/verify' ? [404, outcome('not-found', 'none')] : call.url.startsWith('/api/admin/audit') ? [200, { records: [] }] : undefined),
      { path: '/admin/audit' },
    );
    await screen.findByText('No record matches these filters.');
    fireEvent.change(screen.getByLabelText('From (date)'), { target: { value: '2024-05-03' } });
    fireEvent.change(screen.getByLabelText('To (date, included)'), { target: { value: '2024-05-01' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The end date is before the start date.');
    expect(of('GET', '/api/admin/audit?')).toHaveLength(1);
  });
});

describe('ChainStatus', () => {
  it('summarises a result', () => {
    expect(chainSummary({ records: 1234, ok: true, first_broken: null })).toBe('Intact: 1,234 records verified, every hash matches.');
    expect(chainSummary({ records: 9, ok: false, first_broken: { seq: 4, reason: 'hash mismatch' } })).toBe('Broken at record #4: hash mismatch. 9 records checked.');
    expect(verifyResult({ records: 3, ok: true, first_broken: null })).not.toBeNull();
    expect(verifyResult({ reindexed: 3 })).toBeNull();
    expect(verifyResult(null)).toBeNull();
  });

  it('verifies on request, shows the progress, then the result', async () => {
    let polls = 0;
    renderWithServer(<ChainStatus />, (call) => {
      if (call.method === 'GET' && call.url === '/api/admin/audit/verify') return [404, outcome('not-found', 'none')];
      if (call.method === 'POST' && call.url === '/api/admin/audit/verify') return [202, { job_id: 'j1' }];
      if (call.url === '/api/admin/jobs/j1') {
        polls += 1;
        const done = polls >= 2;
        return [
          200,
          {
            id: 'j1',
            kind: 'audit.verify',
            status: done ? 'completed' : 'processing',
            progress: { done: done ? 40 : 10, total: 40 },
            result: done ? { records: 40, ok: true, first_broken: null } : null,
            error: null,
            created_at: '2024-05-01T10:00:00Z',
            finished_at: done ? '2024-05-01T10:00:02Z' : null,
          },
        ];
      }
      return undefined;
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Verify the chain now' }));
    const bar = await screen.findByRole('progressbar', { name: 'Verifying the audit chain' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    await waitFor(() => expect(screen.getByTestId('chain-status').textContent).toContain('Intact: 40 records verified'), { timeout: 3000 });
  });
});

describe('break-glass cases', () => {
  it('group requests by clinician and patient, most recent first', () => {
    const cases = breakGlassCases([
      record({ seq: 5, at: '2024-05-02T09:00:00Z', resource_types: ['Condition'] }),
      record({ seq: 4, at: '2024-05-02T08:00:00Z', outcome: 403 }),
      record({ seq: 3, at: '2024-05-01T08:00:00Z', actor: 'u-other', patients: { p2: [] } }),
    ]);
    expect(cases).toHaveLength(2);
    expect(cases[0]).toMatchObject({ actor: 'u-doc', patient: 'p1', requests: 2, failures: 1, first: '2024-05-02T08:00:00Z', last: '2024-05-02T09:00:00Z', types: ['Condition', 'Observation'] });
    expect(cases[1]).toMatchObject({ actor: 'u-other', patient: 'p2', requests: 1 });
  });
});

describe('invitations', () => {
  it('have a state and a checked form', () => {
    const now = Date.parse('2024-05-02T00:00:00Z');
    expect(invitationState({ accepted_at: '2024-05-01T00:00:00Z', expires_at: '2024-05-01T12:00:00Z' }, now)).toBe('accepted');
    expect(invitationState({ accepted_at: null, expires_at: '2024-05-01T12:00:00Z' }, now)).toBe('expired');
    expect(invitationState({ accepted_at: null, expires_at: '2024-05-03T00:00:00Z' }, now)).toBe('pending');
    expect(invitationState({ accepted_at: null, revoked_at: '2024-05-01T13:00:00Z', expires_at: '2024-05-03T00:00:00Z' }, now)).toBe('revoked');
    expect(invitationState({ accepted_at: null, status: 'revoked', expires_at: '2024-05-03T00:00:00Z' }, now)).toBe('revoked');
    // The server's state wins over the clock of the browser.
    expect(invitationState({ accepted_at: null, status: 'pending', expires_at: '2024-05-01T00:00:00Z' }, now)).toBe('pending');
    expect(invitationProblems('r@example.org', '72')).toEqual([]);
    expect(invitationProblems('nobody', '0')).toEqual(['Enter the e-mail address of the researcher.', 'The link must stay valid for 1 to 720 hours.']);
    expect(invitationProblems('r@example.org', '721')).toHaveLength(1);
  });

  it('shows the created link once and revokes a pending invitation', async () => {
    const open = { id: 'i1', email: 'r@example.org', role: 'researcher', url: null, status: 'pending', created_at: '2024-05-01T00:00:00Z', expires_at: '2999-01-01T00:00:00Z', accepted_at: null, revoked_at: null, created_by: 'u-admin' };
    let revoked = false;
    const { of } = renderWithServer(<InvitationsPage />, (call) => {
      if (call.method === 'GET' && call.url === '/api/admin/invitations') return [200, { invitations: revoked ? [] : [open] }];
      if (call.method === 'POST' && call.url === '/api/admin/invitations') return [201, { ...open, url: 'http://localhost/invite/tok-123' }];
      if (call.method === 'DELETE' && call.url === '/api/admin/invitations/i1') {
        revoked = true;
        return [204, null];
      }
      return undefined;
    });
    fireEvent.change(screen.getByLabelText('E-mail of the researcher'), { target: { value: 'r@example.org' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create invitation' }));
    expect(((await screen.findByLabelText('Invitation link')) as HTMLInputElement).value).toBe('http://localhost/invite/tok-123');
    expect(of('POST', '/api/admin/invitations')[0].body).toEqual({ email: 'r@example.org', expires_in_hours: 72 });
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    expect(screen.queryByLabelText('Invitation link')).toBeNull();
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke the invitation of r@example.org' }));
    await screen.findByText('No invitation yet.');
  });
});

describe('system health', () => {
  it('reads latencies and keeps one sample per check and instant, the newest few', () => {
    expect(formatLatency(0.4321)).toBe('0.4 ms');
    expect(formatLatency(1234.5)).toBe('1,235 ms');
    const health = (at: string, ms: number): AdminHealth => ({
      status: 'ok',
      checked_at: at,
      checks: [
        { name: 'database', status: 'ok', latency_ms: ms, detail: null },
        { name: 'mail', status: 'not-configured', latency_ms: 0, detail: null },
      ],
    });
    let samples = addSamples({}, health('2024-05-01T10:00:00Z', 1.5));
    samples = addSamples(samples, health('2024-05-01T10:00:00Z', 9));
    samples = addSamples(samples, health('2024-05-01T10:00:10Z', 2.5), 2);
    samples = addSamples(samples, health('2024-05-01T10:00:20Z', 3.5), 2);
    expect(samples.database.map((p) => p.value)).toEqual([2.5, 3.5]);
    expect(samples.mail).toBeUndefined();
  });
});
