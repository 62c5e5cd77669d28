// The filters of the admin pages as the URL keeps them (so a filtered view can be reloaded,
// bookmarked and linked to) and as the API wants them: dates of the form become instants.

import type { AuditQuery, UserFilter } from '../api/client';
import { dayStart } from '../ui/dates';
import { translate as t } from '../i18n/core';

/** The audit log's filters as the form holds them (dates `YYYY-MM-DD`, in the user's time zone). */
export interface AuditFilters {
  actor: string;
  patient: string;
  action: string;
  resourceType: string;
  from: string;
  to: string;
  breakGlass: boolean;
}

export const NO_AUDIT_FILTERS: AuditFilters = { actor: '', patient: '', action: '', resourceType: '', from: '', to: '', breakGlass: false };

/** URL parameter of each filter. */
const AUDIT_PARAMS: Record<Exclude<keyof AuditFilters, 'breakGlass'>, string> = {
  actor: 'actor',
  patient: 'patient',
  action: 'action',
  resourceType: 'type',
  from: 'from',
  to: 'to',
};

export function auditFiltersFromSearch(search: URLSearchParams): AuditFilters {
  const filters = { ...NO_AUDIT_FILTERS };
  for (const [key, param] of Object.entries(AUDIT_PARAMS) as [keyof typeof AUDIT_PARAMS, string][]) {
    filters[key] = (search.get(param) ?? '').trim();
  }
  filters.breakGlass = search.get('break_glass') === 'true';
  return filters;
}

/** The URL parameters of `filters` (only those set). */
export function auditFiltersToSearch(filters: AuditFilters): URLSearchParams {
  const search = new URLSearchParams();
  for (const [key, param] of Object.entries(AUDIT_PARAMS) as [keyof typeof AUDIT_PARAMS, string][]) {
    const value = filters[key].trim();
    if (value) search.set(param, value);
  }
  if (filters.breakGlass) search.set('break_glass', 'true');
  return search;
}

/** What is wrong with `filters` (empty: nothing). */
export function auditFilterProblems(filters: AuditFilters): string[] {
  const problems: string[] = [];
  if (filters.from && !dayStart(filters.from)) problems.push(t('adm.filter.badFrom'));
  if (filters.to && !dayStart(filters.to)) problems.push(t('adm.filter.badTo'));
  if (filters.from && filters.to && dayStart(filters.from)! > dayStart(filters.to)!) {
    problems.push(t('adm.filter.reversed'));
  }
  if (filters.breakGlass && filters.action.trim() && filters.action.trim() !== 'break-glass') {
    problems.push(t('adm.filter.glassAction'));
  }
  return problems;
}

/**
 * The query of `GET /api/admin/audit` for `filters`: the date range covers whole days (`to`
 * included: `until` is the next midnight), `before` pages back from a sequence number.
 */
export function auditQuery(filters: AuditFilters, page: { before?: number; limit?: number } = {}): AuditQuery {
  const query: AuditQuery = {};
  if (filters.actor.trim()) query.actor = filters.actor.trim();
  if (filters.patient.trim()) query.patient = filters.patient.trim().replace(/^Patient\//, '');
  if (filters.action.trim()) query.action = filters.action.trim();
  if (filters.resourceType.trim()) query.resource_type = filters.resourceType.trim();
  const since = filters.from ? dayStart(filters.from) : undefined;
  const until = filters.to ? dayStart(filters.to, 1) : undefined;
  if (since) query.since = since;
  if (until) query.until = until;
  if (filters.breakGlass) query.break_glass = true;
  if (page.before !== undefined) query.before = page.before;
  if (page.limit !== undefined) query.limit = page.limit;
  return query;
}

/** The users table's filters as the form and the URL hold them. */
export interface UserFilters {
  q: string;
  role: string;
  status: string;
}

export function userFiltersFromSearch(search: URLSearchParams): UserFilters {
  return { q: search.get('q') ?? '', role: search.get('role') ?? '', status: search.get('status') ?? '' };
}

export function userFiltersToSearch(filters: UserFilters): URLSearchParams {
  const search = new URLSearchParams();
  if (filters.q.trim()) search.set('q', filters.q.trim());
  if (filters.role) search.set('role', filters.role);
  if (filters.status) search.set('status', filters.status);
  return search;
}

/** The query of `GET /api/admin/users` for a page of `filters`. */
export function userQuery(filters: UserFilters, page: { limit: number; offset: number }): UserFilter {
  const query: UserFilter = { limit: page.limit, offset: page.offset };
  if (filters.q.trim()) query.q = filters.q.trim();
  if (filters.role) query.role = filters.role;
  if (filters.status) query.status = filters.status;
  return query;
}

/** The audit actions a filter may name (the server's `Action` names; others still work). */
export const AUDIT_ACTIONS = [
  'read',
  'vread',
  'search',
  'history',
  'create',
  'update',
  'patch',
  'delete',
  'bundle',
  'export',
  'export-status',
  'export-cancel',
  'export-file',
  'export-job',
  'fulltext-search',
  'document-upload',
  'document-accept',
  'document-cancel',
  'document-status',
  'document-publish',
  'consent-grant',
  'consent-request',
  'consent-accept',
  'consent-decline',
  'consent-revoke',
  'break-glass',
  'research-export',
  'drug-check',
  'drug-acknowledge',
  'drug-history',
  'cds-hook',
  'user-approve',
  'user-suspend',
  'user-reinstate',
  'user-unlock',
  'user-role-change',
  'invitation-create',
  'invitation-revoke',
  'invitation-accept',
  'reindex',
  'audit-verify',
  'subscription-notification',
  'other',
] as const;
