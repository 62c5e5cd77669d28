// A patient's demographics as forms edit them (registration, Settings → Your details): the
// form's text fields, the check the server repeats (required fields, a real past date from
// 1900 on, a known gender, a plausible phone) and the payload of `/api/account/demographics`.

import type { Demographics } from '../api/types';
import { translate as t, type MessageKey } from '../i18n/core';

/** The administrative genders of FHIR R4, as the server accepts them. */
export const GENDERS: { value: string; label: MessageKey }[] = [
  { value: 'female', label: 'status.female' },
  { value: 'male', label: 'status.male' },
  { value: 'other', label: 'status.other' },
  { value: 'unknown', label: 'demo.unknownGender' },
];

/** What the form holds: given names as typed (space-separated), the rest as text. */
export interface DemographicsForm {
  given: string;
  family: string;
  birthDate: string;
  gender: string;
  phone: string;
}

export const EMPTY_DEMOGRAPHICS: DemographicsForm = { given: '', family: '', birthDate: '', gender: '', phone: '' };

/** The form's field ids, by the server's field names (to focus and describe a problem). */
export const FIELD_IDS: Record<keyof Demographics, string> = {
  given: 'given',
  family: 'family',
  birth_date: 'birth-date',
  gender: 'gender',
  phone: 'phone',
};

export interface Problem {
  field: keyof Demographics;
  message: string;
}

/** The form of stored demographics. */
export function toForm(demographics: Demographics): DemographicsForm {
  return {
    given: demographics.given.join(' '),
    family: demographics.family,
    birthDate: demographics.birth_date,
    gender: demographics.gender,
    phone: demographics.phone ?? '',
  };
}

/** The payload of a form (names trimmed and split, an empty phone as none). */
export function toDemographics(form: DemographicsForm): Demographics {
  const phone = form.phone.trim();
  return {
    given: form.given.trim().split(/\s+/).filter(Boolean),
    family: form.family.trim(),
    birth_date: form.birthDate.trim(),
    gender: form.gender,
    phone: phone ? phone : null,
  };
}

/** Today as `YYYY-MM-DD` in the user's time zone (the latest birth date a form offers). */
export function localToday(now: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** The first problem of a form, as the server would name it, or `null`. */
export function demographicsProblem(form: DemographicsForm, today: string = localToday()): Problem | null {
  const d = toDemographics(form);
  if (!d.given.length) return { field: 'given', message: t('demo.noGiven') };
  if (!d.family) return { field: 'family', message: t('demo.noFamily') };
  if (!d.birth_date) return { field: 'birth_date', message: t('demo.noBirth') };
  const valid = /^\d{4}-\d{2}-\d{2}$/.test(d.birth_date) && !Number.isNaN(Date.parse(`${d.birth_date}T00:00:00Z`));
  if (!valid) return { field: 'birth_date', message: t('demo.badBirth') };
  if (d.birth_date > today) return { field: 'birth_date', message: t('demo.futureBirth') };
  if (d.birth_date < '1900-01-01') return { field: 'birth_date', message: t('demo.oldBirth') };
  if (!GENDERS.some((g) => g.value === d.gender)) return { field: 'gender', message: t('demo.noGender') };
  if (d.phone && (!/^[\d +\-().]+$/.test(d.phone) || (d.phone.match(/\d/g) ?? []).length < 3 || d.phone.length > 32)) {
    return { field: 'phone', message: t('demo.badPhone') };
  }
  return null;
}
