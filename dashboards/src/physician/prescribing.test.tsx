// Prescribing with drug-interaction checks (issue #13): the finding card, the acknowledge
// form's rules, the prescribe flow against a scripted server, the history and the checker.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { SessionProvider } from '../ui/session';
import { FindingCard, conflictOrigin } from './FindingCard';
import { AcknowledgeForm, acknowledgementProblems } from './AcknowledgeForm';
import { PrescribePanel, checkSummary, signBlocker } from './PrescribePanel';
import { CheckHistoryView } from './CheckHistory';
import { InteractionsPage, addDrug } from './InteractionsPage';
import { highestSeverity, isBlocking, medicationInput, medicationRequest, severityName } from '../api/clinical';
import type { Acknowledgement, DrugCheckReport, DrugView, FindingView, SeverityName } from '../api/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const ME = { id: 'u-doc', email: 'doc@example.org', name: 'Dr. Grace Hopper', role: 'physician', status: 'active', patient_id: null, totp_enabled: true };

const simvastatin: DrugView = { name: 'simvastatin', generic: 'simvastatin', brand: false, rxnorm: '36567', classes: ['statins'] };
const zocor: DrugView = { name: 'Zocor', generic: 'simvastatin', brand: true, rxnorm: null, classes: ['statins'] };

const acknowledgement = (patch: Partial<Acknowledgement> = {}): Acknowledgement => ({
  id: 'ack-1',
  patient: 'p1',
  finding: 'interaction:clarithromycin+simvastatin',
  severity: 'high',
  summary: 'Clarithromycin greatly raises simvastatin levels',
  reason: 'Short course; statin paused for 7 days',
  acknowledged_by: 'u-doc',
  acknowledged_by_name: null,
  acknowledged_at: '2024-05-01T10:00:00Z',
  expires_at: '2024-05-31T10:00:00Z',
  active: true,
  detected_issue: 'DetectedIssue/di-1',
  ...patch,
});

const finding = (patch: Partial<FindingView> = {}): FindingView => ({
  key: 'interaction:clarithromycin+simvastatin',
  kind: 'interaction',
  severity: 'contraindicated',
  summary: 'Clarithromycin greatly raises simvastatin levels',
  mechanism: 'CYP3A4 inhibition',
  recommendation: 'Do not combine; pause the statin',
  source: 'Example interaction table',
  evidence: 'established',
  medication: 'simvastatin',
  conflicting: { display: 'Clarithromycin 500 mg', reference: 'MedicationRequest/mr-1' },
  blocks: (patch.severity ?? 'contraindicated') === 'contraindicated',
  acknowledgement: null,
  ...patch,
});

const check = (findings: FindingView[], patch: Partial<DrugCheckReport> = {}): DrugCheckReport => ({
  check_id: 'c1',
  checked_at: '2024-05-01T10:00:00Z',
  patient: 'p1',
  medications: [{ input: 'simvastatin', name: 'simvastatin', ingredients: ['simvastatin'], classes: ['statins'], recognised: true }],
  findings,
  active_medications: 2,
  allergies: 1,
  blocking: findings.some((f) => f.blocks && !f.acknowledgement?.active),
  warnings: [],
  ...patch,
});

interface Call {
  method: string;
  url: string;
  body: unknown;
}

type Handler = (call: Call) => [number, unknown] | undefined;

/** A signed-in physician session whose server answers through `handler` (and `/api/auth/me`). */
function renderSession(ui: ReactNode, handler: Handler) {
  window.sessionStorage.setItem('test.session', JSON.stringify({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }));
  const calls: Call[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = { method: init?.method ?? 'GET', url: String(input), body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    const answer: [number, unknown] | undefined = call.url === '/api/auth/me' ? [200, ME] : handler(call);
    if (!answer) throw new Error(`unexpected ${call.method} ${call.url}`);
    const [status, body] = answer;
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queryClient}>
      <SessionProvider storageKey="test.session">{ui}</SessionProvider>
    </QueryClientProvider>,
  );
  return { calls, queryClient, of: (method: string, path: string) => calls.filter((c) => c.method === method && c.url.startsWith(path)) };
}

const outcome = (diagnostics: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict', diagnostics }] });

describe('FindingCard', () => {
  it.each<[SeverityName, string]>([
    ['contraindicated', 'Contraindicated'],
    ['serious', 'Serious'],
    ['moderate', 'Moderate'],
    ['minor', 'Minor'],
  ])('shows %s as a class and as text', (severity, label) => {
    renderSession(<FindingCard finding={finding({ severity })} />, () => undefined);
    const card = screen.getByRole('article', { name: 'Clarithromycin greatly raises simvastatin levels' });
    expect(card.className).toBe(`finding finding-${severity}`);
    const badge = card.querySelector('.severity')!;
    expect(badge.className).toBe(`severity severity-${severity}`);
    expect(badge.textContent).toBe(`Severity: ${label}`);
  });

  it('says what, why, what to do, where from and what it conflicts with', async () => {
    renderSession(<FindingCard finding={finding({ acknowledgement: acknowledgement() })} />, () => undefined);
    const card = screen.getByRole('article');
    for (const text of ['Drug interaction', 'CYP3A4 inhibition', 'Do not combine; pause the statin', 'Example interaction table', 'established']) {
      expect(within(card).getByText(text)).toBeTruthy();
    }
    expect(card.textContent).toContain('Clarithromycin 500 mg (active medication on record)');
    // The acknowledger is named (the signed-in physician), never shown by id.
    await waitFor(() => expect(screen.getByTestId('finding-acknowledgement').textContent).toContain('Acknowledged by Dr. Grace Hopper'));
    expect(screen.getByTestId('finding-acknowledgement').textContent).not.toContain('u-doc');
  });

  it('leaves out what the finding does not have and names allergy conflicts', () => {
    const allergy = finding({ kind: 'allergy', mechanism: null, recommendation: null, evidence: null, conflicting: { display: 'Penicillin', reference: 'AllergyIntolerance/a1' } });
    renderSession(<FindingCard finding={allergy} />, () => undefined);
    expect(screen.getByText('Allergy conflict')).toBeTruthy();
    expect(screen.queryByText('Mechanism')).toBeNull();
    expect(screen.queryByText('Evidence')).toBeNull();
    expect(conflictOrigin(allergy)).toBe('allergy on record');
    expect(conflictOrigin(finding({ conflicting: { display: 'warfarin', reference: null } }))).toBe('in this check');
  });
});

describe('acknowledge form', () => {
  const now = new Date(2024, 4, 1, 12);

  it('needs a reason of 10 to 500 characters and a last day within a year', () => {
    expect(acknowledgementProblems('   too short  ', '', now).reason).toBe('Give a reason of at least 10 characters (9 so far).');
    expect(acknowledgementProblems('Statin paused for the course', '', now)).toEqual({});
    expect(acknowledgementProblems('x'.repeat(501), '', now).reason).toMatch(/500 characters at most/);
    expect(acknowledgementProblems('Statin paused for the course', '2024-04-30', now).expiry).toMatch(/today or later/);
    expect(acknowledgementProblems('Statin paused for the course', '2024-05-01', now)).toEqual({});
    expect(acknowledgementProblems('Statin paused for the course', '2025-06-01', now).expiry).toMatch(/at most one year/);
  });

  it('says what is wrong before sending anything, then sends the acknowledgement', async () => {
    const acknowledged: Acknowledgement[] = [];
    const { of } = renderSession(<AcknowledgeForm patientId="p1" finding={finding()} onAcknowledged={(a) => acknowledged.push(a)} />, (call) =>
      call.url === '/api/clinical/acknowledgements' ? [201, acknowledgement()] : undefined,
    );
    const reason = screen.getByLabelText('Reason for prescribing anyway');
    fireEvent.change(reason, { target: { value: 'short' } });
    fireEvent.click(screen.getByRole('button', { name: 'Acknowledge' }));
    expect(screen.getByRole('alert').textContent).toBe('Give a reason of at least 10 characters (5 so far).');
    expect(reason.getAttribute('aria-invalid')).toBe('true');
    expect(reason.getAttribute('aria-describedby')).toContain('reason-error');
    expect(of('POST', '/api/clinical/acknowledgements')).toHaveLength(0);
    fireEvent.change(reason, { target: { value: '  Short course; statin paused for 7 days ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Acknowledge' }));
    await waitFor(() => expect(acknowledged).toHaveLength(1));
    expect(of('POST', '/api/clinical/acknowledgements')[0].body).toEqual({
      patient: 'p1',
      finding: 'interaction:clarithromycin+simvastatin',
      reason: 'Short course; statin paused for 7 days',
    });
  });
});

describe('prescription helpers', () => {
  it('checks and signs by RxNorm code when there is one, else by name', () => {
    expect(medicationInput({ kind: 'drug', drug: simvastatin })).toEqual({ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '36567', text: 'simvastatin' });
    expect(medicationInput({ kind: 'drug', drug: zocor })).toEqual({ text: 'Zocor' });
    expect(medicationInput({ kind: 'text', text: 'grapefruit extract' })).toEqual({ text: 'grapefruit extract' });
    const request = medicationRequest('p1', { kind: 'drug', drug: simvastatin }, ' 20 mg at night ', new Date('2024-05-01T10:00:00Z'));
    expect(request).toEqual({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: 'Patient/p1' },
      authoredOn: '2024-05-01T10:00:00.000Z',
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '36567', display: 'simvastatin' }], text: 'simvastatin' },
      dosageInstruction: [{ text: '20 mg at night' }],
    });
    expect(medicationRequest('p1', { kind: 'text', text: 'Zocor' }, '').medicationCodeableConcept).toEqual({ text: 'Zocor' });
    expect(medicationRequest('p1', { kind: 'text', text: 'Zocor' }, '').dosageInstruction).toBeUndefined();
  });

  it('says why signing waits, and what a check covered', () => {
    expect(signBlocker(null, { isPending: true, isError: false })).toBe('Choose a drug first.');
    const chosen = { kind: 'text' as const, text: 'simvastatin' };
    expect(signBlocker(chosen, { isPending: true, isError: false })).toMatch(/Checking/);
    expect(signBlocker(chosen, { isPending: false, isError: true })).toMatch(/failed/);
    expect(signBlocker(chosen, { isPending: false, isError: false, data: check([finding()]) })).toBe('Acknowledge each blocking finding before signing.');
    expect(signBlocker(chosen, { isPending: false, isError: false, data: check([finding({ severity: 'serious' })]) })).toBeNull();
    expect(checkSummary(check([]))).toBe('No interactions or allergy conflicts found (checked against 2 active medications and 1 recorded allergy).');
    const unknown = check([finding()], { medications: [{ input: 'xyzzy', name: null, ingredients: [], classes: [], recognised: false }] });
    expect(checkSummary(unknown)).toMatch(/^1 finding .* xyzzy is not in the drug knowledge base/);
    expect(highestSeverity(['minor', 'serious', 'moderate'])).toBe('serious');
    expect(highestSeverity([])).toBeNull();
    expect(severityName('serious')).toBe('serious');
    expect(severityName('high')).toBeNull();
    // The server decides what blocks (a serious allergy conflict too); an acknowledgement in force lifts it.
    expect(isBlocking(finding({ kind: 'allergy', severity: 'serious', blocks: true }))).toBe(true);
    expect(isBlocking(finding({ severity: 'serious' }))).toBe(false);
    expect(isBlocking(finding({ acknowledgement: acknowledgement() }))).toBe(false);
    expect(isBlocking(finding({ acknowledgement: acknowledgement({ active: false }) }))).toBe(true);
  });
});

/** Chooses `text` in the drug box: waits for the search, picks the first option. */
async function chooseDrug(name: string, text = name) {
  const input = screen.getByRole('combobox', { name });
  act(() => input.focus());
  fireEvent.change(input, { target: { value: text } });
  const option = await screen.findByRole('option', { name: new RegExp(`^${text}`, 'i') });
  fireEvent.click(option);
}

describe('PrescribePanel', () => {
  it('checks the chosen drug, blocks on a contraindication until acknowledged, then signs', async () => {
    let acknowledged = false;
    const { of } = renderSession(<PrescribePanel patientId="p1" />, (call) => {
      if (call.url.startsWith('/api/clinical/drugs')) return [200, { drugs: [simvastatin, zocor] }];
      if (call.url === '/api/clinical/drug-interactions') {
        return [200, check([finding({ acknowledgement: acknowledged ? acknowledgement() : null }), finding({ key: 'interaction:x', severity: 'minor', summary: 'A minor one' })])];
      }
      if (call.url === '/api/clinical/acknowledgements') {
        acknowledged = true;
        return [201, acknowledgement()];
      }
      if (call.method === 'POST' && call.url === '/fhir/R4/MedicationRequest') return [201, { ...(call.body as object), id: 'mr-new' }];
      return undefined;
    });
    const sign = screen.getByRole('button', { name: 'Sign prescription' }) as HTMLButtonElement;
    expect(sign.disabled).toBe(true);
    await chooseDrug('Choose a drug', 'simva');
    // Checked as soon as it is chosen, with the patient and the RxNorm code.
    const cards = await screen.findAllByTestId('finding');
    expect(of('POST', '/api/clinical/drug-interactions')[0].body).toEqual({
      patient: 'p1',
      medications: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '36567', text: 'simvastatin' }],
    });
    expect(of('GET', '/api/clinical/drugs').map((c) => c.url)).toEqual(['/api/clinical/drugs?q=simva&limit=10']);
    // Most severe first; only the blocking one asks for an acknowledgement.
    expect(cards.map((c) => c.dataset.severity)).toEqual(['contraindicated', 'minor']);
    expect(within(cards[1]).queryByRole('button', { name: 'Acknowledge' })).toBeNull();
    expect(sign.disabled).toBe(true);
    expect(screen.getByText('Acknowledge each blocking finding before signing.')).toBeTruthy();
    fireEvent.change(within(cards[0]).getByLabelText('Reason for prescribing anyway'), { target: { value: 'Short course; statin paused for 7 days' } });
    fireEvent.click(within(cards[0]).getByRole('button', { name: 'Acknowledge' }));
    // Re-checked after the acknowledgement: no longer blocking.
    await waitFor(() => expect(sign.disabled).toBe(false));
    expect(of('POST', '/api/clinical/drug-interactions')).toHaveLength(2);
    expect(screen.getByTestId('finding-acknowledgement').textContent).toMatch(/Acknowledged by Dr. Grace Hopper/);
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).toBeNull();
    fireEvent.change(screen.getByLabelText('Dose and directions (optional)'), { target: { value: '20 mg at night' } });
    fireEvent.click(sign);
    await screen.findByTestId('sign-success');
    const [signed] = of('POST', '/fhir/R4/MedicationRequest');
    expect(signed.body).toMatchObject({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: { coding: [{ code: '36567', display: 'simvastatin' }], text: 'simvastatin' },
      dosageInstruction: [{ text: '20 mg at night' }],
    });
    expect(screen.getByTestId('sign-success').textContent).toContain('simvastatin, 20 mg at night');
    // Signing does not check again (every check is kept in the record).
    expect(of('POST', '/api/clinical/drug-interactions')).toHaveLength(2);
    // The form starts over for the next prescription.
    expect((screen.getByRole('combobox', { name: 'Choose a drug' }) as HTMLInputElement).value).toBe('');
    expect(screen.queryAllByTestId('finding')).toHaveLength(0);
  });

  it('shows the server refusing to sign (409) and checks again', async () => {
    let refused = false;
    const { of } = renderSession(<PrescribePanel patientId="p1" />, (call) => {
      if (call.url.startsWith('/api/clinical/drugs')) return [200, { drugs: [] }];
      if (call.url === '/api/clinical/drug-interactions') return [200, refused ? check([finding()]) : check([])];
      if (call.url === '/fhir/R4/MedicationRequest') {
        refused = true;
        return [409, outcome('unacknowledged contraindicated interaction interaction:clarithromycin+simvastatin')];
      }
      return undefined;
    });
    const input = screen.getByRole('combobox', { name: 'Choose a drug' });
    fireEvent.change(input, { target: { value: 'simvastatin' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await screen.findByText(/No interactions or allergy conflicts found/);
    expect(of('POST', '/api/clinical/drug-interactions')[0].body).toEqual({ patient: 'p1', medications: [{ text: 'simvastatin' }] });
    fireEvent.click(screen.getByRole('button', { name: 'Sign prescription' }));
    const error = await screen.findByTestId('sign-error');
    expect(error.textContent).toBe('Signing was refused. unacknowledged contraindicated interaction interaction:clarithromycin+simvastatin');
    await screen.findByRole('button', { name: 'Acknowledge' });
    expect((screen.getByRole('button', { name: 'Sign prescription' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('CheckHistoryView', () => {
  it('lists checks with their worst finding and acknowledgements with their state, naming people', async () => {
    const history = {
      checks: [
        { check_id: 'c1', checked_at: '2024-05-01T10:00:00Z', checked_by: 'u-doc', checked_by_name: null, medications: ['simvastatin'], findings: [{ key: 'k1', severity: 'minor' as const, summary: 'm' }, { key: 'k2', severity: 'contraindicated' as const, summary: 'c' }] },
        { check_id: 'c2', checked_at: '2024-05-02T10:00:00Z', checked_by: 'u-other', checked_by_name: null, medications: ['aspirin'], findings: [] },
        { check_id: 'c3', checked_at: '2024-04-30T10:00:00Z', checked_by: 'u-third', checked_by_name: 'Dr. Ada Byron', medications: ['aspirin'], findings: [] },
      ],
      acknowledgements: [acknowledgement(), acknowledgement({ id: 'ack-0', active: false, acknowledged_at: '2023-01-01T00:00:00Z', reason: 'An older reason here' })],
    };
    renderSession(<CheckHistoryView history={history} />, () => undefined);
    expect(within(screen.getByTestId('acknowledgement-history')).getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['Finding', 'Reason', 'By', 'Until', 'Status']);
    const checks = within(screen.getByTestId('check-history')).getAllByRole('row').slice(1);
    // Another account without a display name: its id is all there is; with one, its name.
    expect(checks[0].textContent).toContain('u-other');
    expect(checks[2].textContent).toContain('Dr. Ada Byron');
    expect(checks[2].textContent).not.toContain('u-third');
    expect(checks[0].textContent).toContain('None');
    await waitFor(() => expect(checks[1].textContent).toContain('Dr. Grace Hopper'));
    expect(checks[1].textContent).toContain('Severity: Contraindicated');
    const acks = within(screen.getByTestId('acknowledgement-history')).getAllByRole('row').slice(1);
    expect(acks[0].textContent).toContain('Short course; statin paused for 7 days');
    expect(acks[0].textContent).toContain('Active');
    expect(acks[0].textContent).toContain('Severity: High');
    expect(acks[1].textContent).toContain('Expired');
  });
});

describe('CheckHistoryView, many checks', () => {
  it('shows the newest ten, and all on request', () => {
    const checks = Array.from({ length: 12 }, (_, i) => ({
      check_id: `c${i}`,
      checked_at: `2024-05-${String(i + 1).padStart(2, '0')}T10:00:00Z`,
      checked_by: 'u-doc',
      checked_by_name: null,
      medications: [`drug ${i}`],
      findings: [],
    }));
    renderSession(<CheckHistoryView history={{ checks, acknowledgements: [] }} />, () => undefined);
    const rows = () => within(screen.getByTestId('check-history')).getAllByRole('row').slice(1);
    expect(rows()).toHaveLength(10);
    expect(rows()[0].textContent).toContain('drug 11');
    fireEvent.click(screen.getByRole('button', { name: 'Show all 12 checks' }));
    expect(rows()).toHaveLength(12);
    expect(screen.getByText('No findings acknowledged for this patient.')).toBeTruthy();
  });
});

describe('InteractionsPage', () => {
  it('checks two or more drugs against each other without a patient', async () => {
    const warfarin: DrugView = { name: 'warfarin', generic: 'warfarin', brand: false, rxnorm: '11289', classes: ['anticoagulants'] };
    const aspirin: DrugView = { name: 'aspirin', generic: 'aspirin', brand: false, rxnorm: '1191', classes: ['nsaids'] };
    const bleed = finding({ key: 'interaction:aspirin+warfarin', severity: 'serious', summary: 'Bleeding risk', medication: 'aspirin', conflicting: { display: 'warfarin', reference: null } });
    const { of } = renderSession(<InteractionsPage />, (call) => {
      if (call.url.startsWith('/api/clinical/drugs?q=warf')) return [200, { drugs: [warfarin] }];
      if (call.url.startsWith('/api/clinical/drugs?q=aspi')) return [200, { drugs: [aspirin] }];
      if (call.url === '/api/clinical/drug-interactions') {
        return [200, check([bleed], { patient: null, active_medications: 0, allergies: 0, warnings: ['the online interaction source did not answer'] })];
      }
      return undefined;
    });
    expect(screen.getByText('Add at least two drugs to check them against each other.')).toBeTruthy();
    await chooseDrug('Add a drug', 'warf');
    expect(of('POST', '/api/clinical/drug-interactions')).toHaveLength(0);
    await chooseDrug('Add a drug', 'aspi');
    const card = await screen.findByTestId('finding');
    expect(card.dataset.severity).toBe('serious');
    expect(card.textContent).toContain('warfarin (in this check)');
    expect(screen.getByTestId('check-warnings').textContent).toContain('the online interaction source did not answer');
    expect(of('POST', '/api/clinical/drug-interactions')[0].body).toEqual({
      medications: [
        { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '11289', text: 'warfarin' },
        { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1191', text: 'aspirin' },
      ],
    });
    expect(within(screen.getByRole('list', { name: 'Drugs to check' })).getAllByRole('listitem').map((li) => li.firstChild?.textContent)).toEqual(['warfarin', 'aspirin']);
    fireEvent.click(screen.getByRole('button', { name: 'Remove aspirin' }));
    expect(screen.getByText('Add at least two drugs to check them against each other.')).toBeTruthy();
  });

  it('adds a drug once, up to twenty', () => {
    const one = addDrug([], { kind: 'text', text: 'Aspirin' });
    expect(addDrug(one, { kind: 'text', text: 'aspirin' })).toBe(one);
    const full = Array.from({ length: 20 }, (_, i) => ({ kind: 'text' as const, text: `drug ${i}` }));
    expect(addDrug(full, { kind: 'text', text: 'one more' })).toBe(full);
  });
});
