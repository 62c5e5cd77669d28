// Notifications (`/api/notifications`, issue #14): the portal's own display rules of notices
// (labels, groups, languages, quiet-hour offsets, links). The payloads are generated (types.ts).

import type { NotificationKind, NotificationLanguage } from './types';
import { translate, type MessageKey } from '../i18n/core';

export type {
  ChannelChoice,
  NotificationKind,
  NotificationLanguage,
  NotificationPage,
  NotificationPreferences,
  NotificationView,
  PreferencesInput,
  QuietHours,
} from './types';

/** Every kind of notice, in the server's order (checked against the generated type). */
export const NOTIFICATION_KINDS = [
  'consent.requested',
  'consent.granted',
  'consent.declined',
  'consent.revoked',
  'consent.expiring',
  'consent.expired',
  'security.break_glass',
  'document.processed',
  'document.needs_review',
  'document.failed',
  'results.filed',
  'account.approved',
  'account.suspended',
  'security.new_sign_in',
  'security.password_changed',
  'security.totp_enabled',
  'security.totp_disabled',
  'research.export_ready',
] as const satisfies readonly NotificationKind[];

// ---- display rules ------------------------------------------------------------------------

/** Labels of every kind (a kind new in the server's schema fails the type check here). */
export const KIND_LABELS: Record<NotificationKind, MessageKey> = {
  'consent.requested': 'kind.consent.requested',
  'consent.granted': 'kind.consent.granted',
  'consent.declined': 'kind.consent.declined',
  'consent.revoked': 'kind.consent.revoked',
  'consent.expiring': 'kind.consent.expiring',
  'consent.expired': 'kind.consent.expired',
  'security.break_glass': 'kind.security.break_glass',
  'document.processed': 'kind.document.processed',
  'document.needs_review': 'kind.document.needs_review',
  'document.failed': 'kind.document.failed',
  'results.filed': 'kind.results.filed',
  'account.approved': 'kind.account.approved',
  'account.suspended': 'kind.account.suspended',
  'security.new_sign_in': 'kind.security.new_sign_in',
  'security.password_changed': 'kind.security.password_changed',
  'security.totp_enabled': 'kind.security.totp_enabled',
  'security.totp_disabled': 'kind.security.totp_disabled',
  'research.export_ready': 'kind.research.export_ready',
};

/** The label of a kind (the API name itself for a kind this portal does not know yet). */
export function kindLabel(kind: string): string {
  const key = (KIND_LABELS as Record<string, MessageKey>)[kind];
  return key ? translate(key) : kind;
}

export interface KindGroup {
  title: MessageKey;
  kinds: NotificationKind[];
}

/** The groups of the preferences table, in order. */
export const KIND_GROUPS: KindGroup[] = [
  {
    title: 'group.consents',
    kinds: ['consent.requested', 'consent.granted', 'consent.declined', 'consent.revoked', 'consent.expiring', 'consent.expired'],
  },
  { title: 'group.documents', kinds: ['document.processed', 'document.needs_review', 'document.failed', 'results.filed'] },
  {
    title: 'group.account',
    kinds: [
      'account.approved',
      'account.suspended',
      'security.break_glass',
      'security.new_sign_in',
      'security.password_changed',
      'security.totp_enabled',
      'security.totp_disabled',
    ],
  },
  { title: 'group.research', kinds: ['research.export_ready'] },
];

/**
 * The groups with the kinds the server lists (in the portal's order), plus any kind it lists
 * that the portal does not know (in a last group), so that no choice is hidden.
 */
export function groupKinds(kinds: string[]): { title: string; kinds: string[] }[] {
  const known = new Set<string>(NOTIFICATION_KINDS);
  const listed = new Set(kinds);
  const groups: { title: string; kinds: string[] }[] = KIND_GROUPS.map((group) => ({
    title: translate(group.title),
    kinds: group.kinds.filter((kind) => listed.has(kind)),
  }));
  const other = kinds.filter((kind) => !known.has(kind)).sort();
  if (other.length) groups.push({ title: translate('group.other'), kinds: other });
  return groups.filter((group) => group.kinds.length > 0);
}

export const LANGUAGES: { value: NotificationLanguage; label: string; lang: string }[] = [
  { value: 'en', label: 'English', lang: 'en' },
  { value: 'es', label: 'Español', lang: 'es' },
  { value: 'hi', label: 'हिन्दी', lang: 'hi' },
];

/** The offsets offered for quiet hours: `UTC` and the whole and half hours in use. */
export const UTC_OFFSETS: string[] = [
  'UTC',
  '-12:00', '-11:00', '-10:00', '-09:30', '-09:00', '-08:00', '-07:00', '-06:00', '-05:00', '-04:00', '-03:30', '-03:00',
  '-02:00', '-01:00', '+01:00', '+02:00', '+03:00', '+03:30', '+04:00', '+04:30', '+05:00', '+05:30', '+05:45', '+06:00',
  '+06:30', '+07:00', '+08:00', '+08:45', '+09:00', '+09:30', '+10:00', '+10:30', '+11:00', '+12:00', '+12:45', '+13:00', '+14:00',
];

/** The browser's current offset as `UTC` or `±HH:MM` (the default zone of new quiet hours). */
export function browserOffset(date: Date = new Date()): string {
  const minutes = -date.getTimezoneOffset();
  if (minutes === 0) return 'UTC';
  const sign = minutes > 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export type Portal = 'physician' | 'patient';

/** The pages of each portal (router paths, without the patient portal's `/patient` base). */
const PORTAL_PAGES: Record<Portal, string[]> = {
  // The physician portal also holds the admin and research sections (shown by role).
  physician: ['/', '/patients', '/search', '/consents', '/interactions', '/security', '/settings', '/notifications', '/admin', '/research'],
  patient: [
    '/',
    '/timeline',
    '/documents',
    '/records',
    '/medications',
    '/labs',
    '/allergies',
    '/immunizations',
    '/consents',
    '/access-log',
    '/security',
    '/settings',
    '/notifications',
  ],
};

/** Server paths that name a page of another shape (the portal's page for the same thing). */
const ALIASES: Record<Portal, Record<string, string>> = {
  physician: { '/documents': '/', '/settings/security': '/security' },
  patient: { '/results': '/labs', '/settings/security': '/security' },
};

/**
 * The router path (within `portal`) of a notice's `link`: the patient portal's `/patient`
 * prefix dropped, known other names of a page mapped to the portal's page, and anything else
 * that is not one of the portal's pages (or below one, like `/patients/{id}`) to its start page.
 */
export function portalPath(link: string, portal: Portal): string {
  let path: string;
  let hash: string;
  try {
    // Never leave the portal: only the path (and fragment) of an absolute URL is used.
    const url = new URL(link.trim(), 'http://portal.invalid');
    path = url.pathname;
    hash = url.hash;
  } catch {
    return '/';
  }
  if (path === '/patient' || path.startsWith('/patient/')) {
    if (portal !== 'patient') return '/';
    path = path.slice('/patient'.length) || '/';
  }
  if (path.length > 1) path = path.replace(/\/+$/, '');
  path = ALIASES[portal][path] ?? path;
  const pages = PORTAL_PAGES[portal];
  const known = pages.some((page) => path === page || (page !== '/' && path.startsWith(`${page}/`)));
  return known ? path + hash : '/';
}
