// The research export form's rules, the same as the server's (a purpose of 20–1000
// characters once trimmed, k from 2 to 100, known types only) so the researcher learns of a
// problem before sending; the server checks again and its 400 is shown as well.

import type { NewResearchExport } from '../api/types';
import { dayStart } from '../ui/dates';
import { translate as t } from '../i18n/core';

/** The types the de-identifier exports (`medilink-consent`'s allowlist, `deid/rules.rs`). */
export const EXPORT_TYPES = [
  'Patient',
  'Observation',
  'Condition',
  'Encounter',
  'MedicationRequest',
  'Medication',
  'DiagnosticReport',
  'AllergyIntolerance',
  'Immunization',
  'Procedure',
] as const;

export const PURPOSE_MIN = 20;
export const PURPOSE_MAX = 1000;
export const K_MIN = 2;
export const K_MAX = 100;

export interface ExportForm {
  types: string[];
  /** `YYYY-MM-DD` or empty. */
  since: string;
  until: string;
  keepZip3: boolean;
  purpose: string;
  /** As typed. */
  k: string;
}

export const DEFAULT_EXPORT_FORM: ExportForm = {
  types: [...EXPORT_TYPES],
  since: '',
  until: '',
  keepZip3: false,
  purpose: '',
  k: '5',
};

export type ExportField = 'types' | 'since' | 'until' | 'purpose' | 'k';

/** The problems of the form by field (empty: it may be sent). */
export function exportProblems(form: ExportForm): Partial<Record<ExportField, string>> {
  const problems: Partial<Record<ExportField, string>> = {};
  if (form.types.length === 0) problems.types = t('res.p.types');
  const purpose = form.purpose.trim();
  if (purpose.length < PURPOSE_MIN) {
    problems.purpose = t('res.p.purposeShort', { min: PURPOSE_MIN, n: purpose.length });
  } else if (purpose.length > PURPOSE_MAX) {
    problems.purpose = t('res.p.purposeLong', { max: PURPOSE_MAX, n: purpose.length });
  }
  const k = form.k.trim();
  if (!/^\d+$/.test(k) || Number(k) < K_MIN || Number(k) > K_MAX) {
    problems.k = t('res.p.k', { min: K_MIN, max: K_MAX });
  }
  if (form.since && !dayStart(form.since)) problems.since = t('adm.filter.badFrom');
  if (form.until && !dayStart(form.until)) problems.until = t('adm.filter.badTo');
  if (!problems.since && !problems.until && form.since && form.until && dayStart(form.since)! > dayStart(form.until)!) {
    problems.until = t('adm.filter.reversed');
  }
  return problems;
}

/** The body of `POST /api/research/exports` for a valid form (whole days; the end day included). */
export function exportRequest(form: ExportForm): NewResearchExport {
  const request: NewResearchExport = {
    types: EXPORT_TYPES.filter((type) => form.types.includes(type)),
    purpose: form.purpose.trim(),
    k: Number(form.k.trim()),
  };
  if (form.since) request.since = dayStart(form.since);
  if (form.until) request.until = dayStart(form.until, 1);
  if (form.keepZip3) request.keep_zip3 = true;
  return request;
}

/** The file name of an export file (`Observation.ndjson`). */
export function fileName(file: { type: string; url: string }): string {
  const last = file.url.split('?')[0].split('/').pop();
  return last && last.endsWith('.ndjson') ? decodeURIComponent(last) : `${file.type}.ndjson`;
}

/** The same-origin path of a URL the server made absolute (its base may name another host). */
export function localPath(url: string): string {
  try {
    const parsed = new URL(url, 'http://placeholder.invalid');
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}
