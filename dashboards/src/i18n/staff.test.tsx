// The admin and research sections in every language: each page rendered in Spanish and in
// Hindi against a scripted server shows that language's words, and no English sentence of
// the page is left (three Latin words in a row, the data and a few proper names aside). A
// positive control renders the same pages in English and finds English.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, screen } from '@testing-library/react';
import type { ReactNode } from 'react';
import { renderWithServer, type Call } from '../test-support';
import { setActiveLanguage, translate, type Language } from './core';
import { en } from './en';
import { enSmart } from './en-smart';
import { enStaff } from './en-staff';
import { esStaff } from './es-staff';
import { hiStaff } from './hi-staff';
import { OverviewPage } from '../admin/OverviewPage';
import { UsersPage } from '../admin/UsersPage';
import { UserDetailPage } from '../admin/UserDetailPage';
import { InvitationsPage } from '../admin/InvitationsPage';
import { AuditPage } from '../admin/AuditPage';
import { BreakGlassPage } from '../admin/BreakGlassPage';
import { SystemPage } from '../admin/SystemPage';
import { ResearchPage } from '../research/ResearchPage';
import { ExportPage } from '../research/ExportPage';
import { InvitePage } from '../research/InvitePage';
import { ClientsPage } from '../smart/ClientsPage';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
  setActiveLanguage('en', ['en-US']);
});

const NOW = '2024-05-01T10:00:00Z';
const user = { id: 'u1', email: 'gh@x.io', name: 'Gh', role: 'physician', status: 'pending', patient_id: null, totp_enabled: false };
const record = { seq: 7, at: NOW, actor: 'u1', role: 'physician', action: 'read', outcome: 200, client_ip: null, hash: 'h', request_id: 'r', resource_type: 'Observation', resource_types: ['Observation'], resource_ids: [], patients: { p1: [] } };
const exportItem = {
  id: 'e1',
  status: 'completed',
  types: ['Patient'],
  purpose: 'x'.repeat(20),
  k: 5,
  since: null,
  until: null,
  created_at: NOW,
  expires_at: NOW,
  progress: { done: 1, total: 1 },
  output: [{ type: 'Patient', url: '/api/research/exports/e1/files/Patient.ndjson', count: 3 }],
  skipped: [],
  anonymity: { k: 5, quasi_identifiers: ['birthDate'], generalisation: [], suppressed: { Patient: 1 } },
};

/** The scripted server of every staff page. */
function server(call: Call): [number, unknown] | undefined {
  const url = call.url;
  if (url === '/api/admin/stats') {
    return [200, { patients: 12, resources: { Patient: 12 }, users: { physician: 2 }, documents: {}, jobs: { completed: 3 }, exports: {}, active_consents: 4, pending_physicians: 1, break_glass: { last_24h: 0, last_7d: 1 }, computed_at: NOW }];
  }
  if (url === '/api/admin/health') {
    return [200, { status: 'degraded', checked_at: NOW, checks: [{ name: 'db', status: 'ok', latency_ms: 1.5 }, { name: 'jobs', status: 'degraded', latency_ms: 12, depth: 3 }] }];
  }
  if (url.startsWith('/api/admin/users?')) return [200, { users: [user], total: 1 }];
  if (url === '/api/admin/users/u1') return [200, { user, created_at: NOW, last_sign_in_at: null, active_sessions: 0, locked: false, recent_activity: [record] }];
  if (url === '/api/admin/invitations') {
    return [200, { invitations: [{ id: 'i1', email: 'r@x.io', role: 'researcher', url: null, status: 'pending', created_at: NOW, expires_at: '2999-01-01T00:00:00Z', accepted_at: null, revoked_at: null, created_by: 'u-admin' }] }];
  }
  if (url === '/api/admin/audit/verify') return [200, { job_id: 'j', status: 'completed', finished_at: NOW, result: { ok: true, records: 40 } }];
  if (url.startsWith('/api/admin/audit')) return [200, { records: [{ ...record, action: 'break-glass' }] }];
  if (url === '/api/admin/smart/clients') {
    return [200, [{ client_id: 'c1', name: 'Gc', kind: 'public', status: 'pending', redirect_uris: ['https://g.io/cb'], launch_uri: null, scope: 'launch', created_at: NOW }]];
  }
  if (url === '/api/research/exports') return [200, { exports: [exportItem] }];
  if (url === '/api/research/exports/e1') return [200, exportItem];
  return undefined;
}

const PAGES: [string, ReactNode, string, string][] = [
  ['overview', <OverviewPage />, '/', 'adm.overview.title'],
  ['users', <UsersPage />, '/', 'adm.users.title'],
  ['user', <UserDetailPage />, '/u1', 'adm.user.account'],
  ['invitations', <InvitationsPage />, '/', 'adm.inv.title'],
  ['audit', <AuditPage />, '/', 'adm.audit.title'],
  ['break-glass', <BreakGlassPage />, '/', 'adm.glass.title'],
  ['system', <SystemPage />, '/', 'adm.system.title'],
  ['research', <ResearchPage />, '/', 'res.title'],
  ['export', <ExportPage />, '/e1', 'res.deid'],
  ['invite', <InvitePage />, '/t1', 'res.inv.title'],
  ['SMART apps', <ClientsPage />, '/', 'smart.clients.registered'],
];

/** Words that stay Latin in every language (names, standards, the data of `server`). */
const KEPT = /\b(SMART|PKCE|MediLink|HIPAA Safe Harbor|Safe Harbor|break-glass|Ctrl\+C|ZIP3?|Observation|Patient|birthDate|ndjson|e-mail|Id|2FA|k|db|jobs|ms)\b/g;

/** The texts of the page, one per text node (and the accessible names of its controls). */
function texts(): string[] {
  const found: string[] = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) found.push(node.textContent ?? '');
  for (const element of document.body.querySelectorAll('[aria-label]')) found.push(element.getAttribute('aria-label') ?? '');
  return found.filter((text) => text.trim());
}

/** Runs of three or more Latin words in any one text: English left untranslated (for Hindi). */
function latinRuns(found: string[]): string[] {
  return found.flatMap((text) => text.replace(KEPT, ' ').match(/[A-Za-z]{2,}(?:[\s,.:;()'’-]+[A-Za-z]{2,}){2,}/g) ?? []);
}

/** The English sentences of en-staff.ts and en-smart.ts (the parts between placeholders, of two words or more). */
const ENGLISH = [...Object.values(enStaff), ...Object.values(enSmart)]
  .flatMap((message) => (typeof message === 'string' ? [message] : Object.values(message)))
  .flatMap((message) => message.split(/\{\w+\}/))
  .map((part) => part.trim().replace(/^[,.:;()]+|[,.:;()]+$/g, '').trim())
  .filter((part) => part.split(/\s+/).length >= 2);

/** English sentences of the catalogue found on the page (for Spanish, a Latin script). */
function englishLeft(found: string[]): string[] {
  const all = found.join('\n');
  return [...new Set(ENGLISH.filter((sentence) => all.includes(sentence)))];
}

async function renderIn(lang: Language, page: ReactNode, path: string, titleKey: keyof typeof en) {
  setActiveLanguage(lang, []);
  const route = path === '/' ? '*' : path === '/u1' ? '/:id' : path === '/e1' ? '/:id' : '/:token';
  renderWithServer(page, server, { path, route, signedIn: path !== '/t1' });
  await screen.findAllByText(translate(titleKey), { exact: false });
  // Let every query of the page answer.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return texts();
}

describe('the staff pages in every language', () => {
  it('have every key of en-staff.ts translated (the catalogues are typed complete as well)', () => {
    for (const [lang, catalogue] of [['es', esStaff], ['hi', hiStaff]] as const) {
      expect(Object.keys(catalogue).sort(), lang).toEqual(Object.keys(enStaff).sort());
      for (const [key, message] of Object.entries(catalogue)) expect(message, `${lang} ${key}`).not.toEqual('');
    }
  });

  for (const [name, page, path, title] of PAGES) {
    it(`shows ${name} in Spanish and Hindi with no English sentence left, and in English (control)`, async () => {
      const english = await renderIn('en', page, path, title as keyof typeof en);
      expect(latinRuns(english).length, 'the English page has English runs').toBeGreaterThan(0);
      expect(englishLeft(english).length, 'the English page has English sentences').toBeGreaterThan(0);
      cleanup();
      for (const lang of ['es', 'hi'] as const) {
        const found = await renderIn(lang, page, path, title as keyof typeof en);
        expect(found.join(' ')).toContain(translate(title as keyof typeof en));
        expect(englishLeft(found), `${lang} ${name}`).toEqual([]);
        if (lang === 'hi') {
          expect(latinRuns(found), `hi ${name}`).toEqual([]);
          expect(found.join(' ')).toMatch(/[\u0900-\u097F]{3}/);
        }
        cleanup();
      }
    });
  }
});
