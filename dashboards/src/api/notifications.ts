// Notifications (`/api/notifications`, issue #14): the portal's own display rules of notices
// (labels, groups, languages, quiet-hour offsets, links). The payloads are generated (types.ts).

import type { NotificationKind, NotificationLanguage } from './types';

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
export const KIND_LABELS: Record<NotificationKind, string> = {
  'consent.requested': 'A clinician asks for access',
  'consent.granted': 'A patient grants you access',
  'consent.declined': 'A patient declines your request',
  'consent.revoked': 'A patient revokes your access',
  'consent.expiring': 'Access ends in a few days',
  'consent.expired': 'Access has ended',
  'security.break_glass': 'Emergency (break-glass) access to your record',
  'document.processed': 'A document was processed',
  'document.needs_review': 'A document needs review',
  'document.failed': 'A document could not be processed',
  'results.filed': 'New results in your record',
  'account.approved': 'Your account was approved',
  'account.suspended': 'Your account was suspended',
  'security.new_sign_in': 'Sign-in from a new device or place',
  'security.password_changed': 'Your password changed',
  'security.totp_enabled': 'Two-factor sign-in turned on',
  'security.totp_disabled': 'Two-factor sign-in turned off',
  'research.export_ready': 'A research export is ready',
};

/** The label of a kind (the API name itself for a kind this portal does not know yet). */
export function kindLabel(kind: string): string {
  return (KIND_LABELS as Record<string, string>)[kind] ?? kind;
}

export interface KindGroup {
  title: string;
  kinds: NotificationKind[];
}

/** The groups of the preferences table, in order. */
export const KIND_GROUPS: KindGroup[] = [
  {
    title: 'Consents',
    kinds: ['consent.requested', 'consent.granted', 'consent.declined', 'consent.revoked', 'consent.expiring', 'consent.expired'],
  },
  { title: 'Documents and results', kinds: ['document.processed', 'document.needs_review', 'document.failed', 'results.filed'] },
  {
    title: 'Account and security',
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
  { title: 'Research', kinds: ['research.export_ready'] },
];

/**
 * The groups with the kinds the server lists (in the portal's order), plus any kind it lists
 * that the portal does not know (in a last group), so that no choice is hidden.
 */
export function groupKinds(kinds: string[]): { title: string; kinds: string[] }[] {
  const known = new Set<string>(NOTIFICATION_KINDS);
  const listed = new Set(kinds);
  const groups: { title: string; kinds: string[] }[] = KIND_GROUPS.map((group) => ({
    title: group.title,
    kinds: group.kinds.filter((kind) => listed.has(kind)),
  }));
  const other = kinds.filter((kind) => !known.has(kind)).sort();
  if (other.length) groups.push({ title: 'Other', kinds: other });
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
  physician: ['/', '/patients', '/interactions', '/security', '/settings', '/notifications', '/admin', '/research'],
  patient: [
    '/',
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
  physician: { '/consents': '/', '/documents': '/', '/settings/security': '/security' },
  patient: { '/results': '/labs', '/documents': '/records', '/settings/security': '/security' },
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
