// The research section (issue #15): the export form's rules (as the server's: purpose 20–1000
// characters, k 2–100), the request it sends, the export page's progress and downloads, and
// the invitation page's answers to unknown (404) and used or expired (410) links.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import type { ResearchExport, UserView } from '../api/types';
import { outcome, renderWithServer } from '../test-support';
import { dayStart } from '../ui/dates';
import { DEFAULT_EXPORT_FORM, EXPORT_TYPES, exportProblems, exportRequest, fileName, localPath } from './exportForm';
import { ResearchPage } from './ResearchPage';
import { ExportPage } from './ExportPage';
import { InvitePage } from './InvitePage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  window.sessionStorage.clear();
});

const RESEARCHER: UserView = { id: 'u-r', email: 'r@example.org', name: 'Rosalind', role: 'researcher', status: 'active', patient_id: null, totp_enabled: false };
const PURPOSE = 'Prevalence of prediabetes by age band';

describe('export form rules', () => {
  const valid = { ...DEFAULT_EXPORT_FORM, purpose: PURPOSE };

  it('accept a purpose of 20 characters and k from 2 to 100', () => {
    expect(exportProblems(valid)).toEqual({});
    expect(exportProblems({ ...valid, purpose: `  ${'x'.repeat(20)}  `, k: '2' })).toEqual({});
    expect(exportProblems({ ...valid, k: '100' })).toEqual({});
    expect(exportProblems({ ...valid, purpose: 'y'.repeat(1000) })).toEqual({});
  });

  it('refuse a short or long purpose (trimmed), k out of range or not whole, no type, a reversed period', () => {
    expect(exportProblems({ ...valid, purpose: `   ${'x'.repeat(19)}   ` }).purpose).toBe('Describe the purpose in at least 20 characters (19 so far).');
    expect(exportProblems({ ...valid, purpose: 'y'.repeat(1001) }).purpose).toBe('The purpose may have at most 1,000 characters (1,001 now).');
    for (const k of ['1', '101', '2.5', '', 'five', '-3']) {
      expect(exportProblems({ ...valid, k }).k, k).toBe('k must be a whole number from 2 to 100.');
    }
    expect(exportProblems({ ...valid, types: [] }).types).toBe('Choose at least one resource type.');
    expect(exportProblems({ ...valid, since: '2024-03-02', until: '2024-03-01' }).until).toBe('The end date is before the start date.');
  });

  it('make the request: trimmed purpose, number k, whole days, types in a stable order', () => {
    expect(exportRequest({ ...valid, purpose: `  ${PURPOSE} `, k: ' 7 ', types: ['Observation', 'Patient'], since: '2024-01-01', until: '2024-01-31', keepZip3: true })).toEqual({
      types: ['Patient', 'Observation'],
      purpose: PURPOSE,
      k: 7,
      since: dayStart('2024-01-01'),
      until: dayStart('2024-02-01'),
      keep_zip3: true,
    });
    expect(exportRequest(valid)).toEqual({ types: [...EXPORT_TYPES], purpose: PURPOSE, k: 5 });
  });

  it('name files after their URL and fetch them from this origin', () => {
    expect(fileName({ type: 'Observation', url: 'https://medilink.example/api/research/exports/e1/files/Observation.ndjson' })).toBe('Observation.ndjson');
    expect(fileName({ type: 'Patient', url: 'weird' })).toBe('Patient.ndjson');
    expect(localPath('https://medilink.example/api/research/exports/e1/files/Patient.ndjson')).toBe('/api/research/exports/e1/files/Patient.ndjson');
  });
});

describe('ResearchPage', () => {
  it('says what is wrong before sending anything, then sends a valid export and opens it', async () => {
    const { of } = renderWithServer(
      <ResearchPage />,
      (call) => {
        if (call.method === 'GET' && call.url === '/api/research/exports') return [200, { exports: [] }];
        if (call.method === 'POST' && call.url === '/api/research/exports') return [202, { id: 'e1', status: 'pending' }];
        return undefined;
      },
      { me: RESEARCHER, path: '/research' },
    );
    await screen.findByText('No export yet.');
    fireEvent.change(screen.getByLabelText('Purpose'), { target: { value: 'too short' } });
    fireEvent.change(screen.getByLabelText('k (smallest group size)'), { target: { value: '1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Start export' }));
    expect(screen.getByText('Describe the purpose in at least 20 characters (9 so far).')).toBeTruthy();
    expect(screen.getByText('k must be a whole number from 2 to 100.')).toBeTruthy();
    expect(screen.getByLabelText('Purpose').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Purpose').getAttribute('aria-describedby')).toBe('export-purpose-hint purpose-error');
    expect(of('POST', '/api/research/exports')).toHaveLength(0);

    fireEvent.change(screen.getByLabelText('Purpose'), { target: { value: PURPOSE } });
    fireEvent.change(screen.getByLabelText('k (smallest group size)'), { target: { value: '10' } });
    fireEvent.click(screen.getByRole('button', { name: 'Select none' }));
    fireEvent.click(screen.getByLabelText('Observation'));
    fireEvent.click(screen.getByRole('button', { name: 'Start export' }));
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/research/exports/e1'));
    expect(of('POST', '/api/research/exports')[0].body).toEqual({ types: ['Observation'], purpose: PURPOSE, k: 10 });
  });

  it('shows the server\'s 400', async () => {
    renderWithServer(
      <ResearchPage />,
      (call) =>
        call.method === 'GET' ? [200, { exports: [] }] : [400, outcome('value', 'purpose: at least 20 characters once trimmed')],
      { me: RESEARCHER },
    );
    fireEvent.change(screen.getByLabelText('Purpose'), { target: { value: PURPOSE } });
    fireEvent.click(screen.getByRole('button', { name: 'Start export' }));
    expect((await screen.findByRole('alert')).textContent).toBe('purpose: at least 20 characters once trimmed');
  });
});

const exportOf = (patch: Partial<ResearchExport>): ResearchExport => ({
  id: 'e1',
  status: 'processing',
  types: ['Patient', 'Observation'],
  purpose: PURPOSE,
  k: 5,
  since: null,
  until: null,
  created_at: '2024-05-01T10:00:00Z',
  expires_at: '2024-05-08T10:00:00Z',
  progress: { done: 1, total: 4 },
  output: [],
  skipped: [],
  anonymity: null,
  ...patch,
});

describe('ExportPage', () => {
  it('follows the progress, then downloads a file with the token and the manifest', async () => {
    let polls = 0;
    const completed = exportOf({
      status: 'completed',
      progress: { done: 4, total: 4 },
      output: [{ type: 'Observation', url: 'http://elsewhere.example/api/research/exports/e1/files/Observation.ndjson', count: 2 }],
      anonymity: { k: 5, quasi_identifiers: ['birthDate', 'gender'], generalisation: ['age in 10-year bands'], suppressed: { Patient: 1 } },
    });
    const { calls } = renderWithServer(
      <ExportPage />,
      (call) => {
        if (call.url === '/api/research/exports/e1') {
          polls += 1;
          return [200, polls < 2 ? exportOf({}) : completed];
        }
        if (call.url === '/api/research/exports/e1/files/Observation.ndjson') return [200, { resourceType: 'Observation' }];
        return undefined;
      },
      { me: RESEARCHER, path: '/research/exports/e1', route: '/research/exports/:id' },
    );
    const bar = await screen.findByRole('progressbar', { name: 'Export progress' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    const saved: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    URL.createObjectURL = vi.fn(() => 'blob:x');
    URL.revokeObjectURL = vi.fn();
    fireEvent.click(await screen.findByRole('button', { name: 'Download Observation.ndjson' }, { timeout: 3000 }));
    await screen.findByText('Observation.ndjson downloaded.');
    const fileCall = calls.find((c) => c.url.endsWith('Observation.ndjson'))!;
    expect(fileCall.url).toBe('/api/research/exports/e1/files/Observation.ndjson');
    fireEvent.click(screen.getByRole('button', { name: 'Download the manifest' }));
    expect(saved).toEqual(['Observation.ndjson', 'manifest-e1.json']);
    expect(screen.getByText('Patient: 1')).toBeTruthy();
    expect(screen.getByRole('progressbar', { name: 'Export progress' }).getAttribute('aria-valuenow')).toBe('100');
  });
});

describe('InvitePage', () => {
  const renderInvite = (status: number, body: unknown) =>
    renderWithServer(<InvitePage />, (call) => (call.url === '/api/auth/invitations/tok-1/accept' ? [status, body] : undefined), {
      signedIn: false,
      path: '/invite/tok-1',
      route: '/invite/:token',
    });

  const fill = () => {
    fireEvent.change(screen.getByLabelText('Your name'), { target: { value: 'Rosalind Franklin' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'double helix photo 51 x' } });
    fireEvent.change(screen.getByLabelText('Repeat the password'), { target: { value: 'double helix photo 51 x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create my account' }));
  };

  it('creates the account and sends the invitee to sign in', async () => {
    const { of } = renderInvite(201, RESEARCHER);
    fill();
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/login'));
    expect(of('POST', '/api/auth/invitations/tok-1/accept')[0].body).toEqual({ name: 'Rosalind Franklin', password: 'double helix photo 51 x' });
  });

  it('says an unknown link is not valid (404)', async () => {
    renderInvite(404, outcome('not-found', 'unknown invitation'));
    fill();
    expect((await screen.findByRole('alert')).textContent).toMatch(/^This invitation link is not valid/);
    expect(screen.queryByRole('button', { name: 'Create my account' })).toBeNull();
  });

  it('says a used, revoked or expired link cannot be used (410)', async () => {
    renderInvite(410, outcome('deleted', 'the invitation was used'));
    fill();
    expect((await screen.findByRole('alert')).textContent).toMatch(/already accepted, revoked or has expired/);
  });

  it('shows the password rules the server names (400) and keeps the form', async () => {
    renderInvite(400, outcome('value', 'the password is too easy to guess'));
    fill();
    expect((await screen.findByRole('alert')).textContent).toBe('the password is too easy to guess');
    expect(screen.getByRole('button', { name: 'Create my account' })).toBeTruthy();
  });
});
