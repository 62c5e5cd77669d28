// Display of FHIR R4 data: dates in the user's locale (FHIR partial dates kept partial),
// quantities with their units, reference ranges, observation values and flags, names and codes.

import { activeLocale, isMessageKey, translate } from '../i18n/core';

export type Locale = string | undefined;

/** The locale of the portal's language (i18n: the browser's region kept; tests pass one). */
export function userLocale(): string {
  return activeLocale();
}

const DATE_ONLY = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;

/**
 * A FHIR `date`/`dateTime`/`instant` for display. Date-only values (`2024`, `2024-03`,
 * `2024-03-05`) keep their precision and are never shifted by a time zone.
 */
export function formatDate(value: string | undefined | null, locale: Locale = userLocale()): string {
  if (!value) return '—';
  const dateOnly = DATE_ONLY.exec(value);
  if (dateOnly) {
    const [, year, month, day] = dateOnly;
    const date = new Date(Date.UTC(Number(year), month ? Number(month) - 1 : 0, day ? Number(day) : 1));
    const options: Intl.DateTimeFormatOptions = { timeZone: 'UTC', year: 'numeric' };
    if (month) options.month = day ? 'short' : 'long';
    if (day) options.day = 'numeric';
    return new Intl.DateTimeFormat(locale, options).format(date);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(date);
}

/** A `dateTime`/`instant` with its time (local time zone); date-only values as dates. */
export function formatDateTime(value: string | undefined | null, locale: Locale = userLocale(), timeZone?: string): string {
  if (!value) return '—';
  if (DATE_ONLY.test(value)) return formatDate(value, locale);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(date);
}

/** Milliseconds since the epoch of a FHIR date (start of a partial date), or NaN. */
export function dateValue(value: string | undefined | null): number {
  if (!value) return Number.NaN;
  const dateOnly = DATE_ONLY.exec(value);
  if (dateOnly) {
    const [, year, month, day] = dateOnly;
    return Date.UTC(Number(year), month ? Number(month) - 1 : 0, day ? Number(day) : 1);
  }
  return new Date(value).getTime();
}

/** Decimal places of a number as written (FHIR decimals keep their precision). */
function decimals(value: number): number {
  const text = String(value);
  if (/e/i.test(text)) return Math.min(6, Math.max(0, -Math.floor(Math.log10(Math.abs(value))) + 2));
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

export function formatNumber(value: number, locale: Locale = userLocale()): string {
  const places = Math.min(decimals(value), 6);
  return new Intl.NumberFormat(locale, { minimumFractionDigits: places, maximumFractionDigits: places }).format(value);
}

/** The unit shown for a quantity: its human `unit`, else its UCUM `code` (`{…}` annotations dropped). */
export function unitOf(quantity: fhir4.Quantity | undefined): string {
  if (!quantity) return '';
  const unit = quantity.unit ?? quantity.code ?? '';
  return unit === '1' ? '' : unit.replace(/^\{.*\}$/, '');
}

/** `5.4 mmol/L`, `< 3 mg/dL`. */
export function formatQuantity(quantity: fhir4.Quantity | undefined, locale: Locale = userLocale()): string {
  if (!quantity || quantity.value === undefined) return '—';
  const comparator = quantity.comparator ? `${quantity.comparator} ` : '';
  const unit = unitOf(quantity);
  const spaced = unit === '%' ? unit : unit ? ` ${unit}` : '';
  return `${comparator}${formatNumber(quantity.value, locale)}${spaced}`;
}

/** A reference range: `70–99 mg/dL`, `≥ 40 mg/dL`, `≤ 5.6 %`, or its text. */
export function formatReferenceRange(
  range: fhir4.ObservationReferenceRange | undefined,
  locale: Locale = userLocale(),
): string {
  if (!range) return '';
  const { low, high } = range;
  const unit = unitOf(high) || unitOf(low);
  const suffix = unit === '%' ? unit : unit ? ` ${unit}` : '';
  const num = (q: fhir4.Quantity | undefined) => (q?.value === undefined ? undefined : formatNumber(q.value, locale));
  const lo = num(low);
  const hi = num(high);
  if (lo !== undefined && hi !== undefined) return `${lo}–${hi}${suffix}`;
  if (lo !== undefined) return `≥ ${lo}${suffix}`;
  if (hi !== undefined) return `≤ ${hi}${suffix}`;
  return range.text ?? '';
}

/** Text of a CodeableConcept: its text, else the first display, else the first code. */
export function codeText(concept: fhir4.CodeableConcept | undefined): string {
  if (!concept) return '';
  return concept.text ?? concept.coding?.find((c) => c.display)?.display ?? concept.coding?.[0]?.code ?? '';
}

/** The LOINC (or first) code of a concept, for grouping a series. */
export function codeKey(concept: fhir4.CodeableConcept | undefined): string {
  const coding = concept?.coding?.find((c) => c.system === 'http://loinc.org') ?? concept?.coding?.[0];
  return coding ? `${coding.system ?? ''}|${coding.code ?? ''}` : (concept?.text ?? '');
}

/** A person's name: `text`, else given names and family. */
export function humanName(names: fhir4.HumanName[] | undefined): string {
  if (!names?.length) return '';
  const name = names.find((n) => n.use === 'official') ?? names[0];
  if (name.text?.trim()) return name.text.trim();
  return [...(name.prefix ?? []), ...(name.given ?? []), name.family ?? ''].filter(Boolean).join(' ').trim();
}

export function patientName(patient: fhir4.Patient | undefined): string {
  return humanName(patient?.name) || 'Unnamed patient';
}

/** Age in whole years at `now` of a `birthDate`. */
export function ageInYears(birthDate: string | undefined, now: Date = new Date()): number | undefined {
  if (!birthDate) return undefined;
  const birth = dateValue(birthDate);
  if (Number.isNaN(birth)) return undefined;
  const b = new Date(birth);
  let age = now.getUTCFullYear() - b.getUTCFullYear();
  const beforeBirthday =
    now.getUTCMonth() < b.getUTCMonth() || (now.getUTCMonth() === b.getUTCMonth() && now.getUTCDate() < b.getUTCDate());
  if (beforeBirthday) age -= 1;
  return age;
}

/** The value of an observation for display (`120/80 mmHg` for blood pressure components). */
export function observationValue(observation: fhir4.Observation, locale: Locale = userLocale()): string {
  if (observation.valueQuantity) return formatQuantity(observation.valueQuantity, locale);
  if (observation.valueCodeableConcept) return codeText(observation.valueCodeableConcept);
  if (observation.valueString !== undefined) return observation.valueString;
  if (observation.valueBoolean !== undefined) return observation.valueBoolean ? 'Yes' : 'No';
  if (observation.valueInteger !== undefined) return formatNumber(observation.valueInteger, locale);
  const components = observation.component?.filter((c) => c.valueQuantity?.value !== undefined) ?? [];
  if (components.length === 2 && unitOf(components[0].valueQuantity) === unitOf(components[1].valueQuantity)) {
    const [a, b] = components;
    const unit = unitOf(a.valueQuantity);
    return `${formatNumber(a.valueQuantity!.value!, locale)}/${formatNumber(b.valueQuantity!.value!, locale)}${unit ? ` ${unit}` : ''}`;
  }
  if (components.length) {
    return components.map((c) => `${codeText(c.code)} ${formatQuantity(c.valueQuantity, locale)}`).join(', ');
  }
  if (observation.dataAbsentReason) return codeText(observation.dataAbsentReason);
  return '—';
}

/** When an observation applies: `effectiveDateTime`, the period's start, or `issued`. */
export function observationDate(observation: fhir4.Observation): string | undefined {
  return observation.effectiveDateTime ?? observation.effectivePeriod?.start ?? observation.effectiveInstant ?? observation.issued;
}

export type Flag = 'high' | 'low' | 'abnormal' | 'normal';

/** The flag of a result: from `interpretation` (H, L, A, N…), else from its reference range. */
export function observationFlag(observation: fhir4.Observation): Flag | undefined {
  const code = observation.interpretation?.flatMap((i) => i.coding ?? []).map((c) => c.code)[0];
  switch (code) {
    case 'H':
    case 'HH':
    case 'HU':
      return 'high';
    case 'L':
    case 'LL':
    case 'LU':
      return 'low';
    case 'A':
    case 'AA':
      return 'abnormal';
    case 'N':
      return 'normal';
  }
  const value = observation.valueQuantity?.value;
  const range = observation.referenceRange?.[0];
  if (value === undefined || !range) return undefined;
  if (range.low?.value !== undefined && value < range.low.value) return 'low';
  if (range.high?.value !== undefined && value > range.high.value) return 'high';
  if (range.low?.value !== undefined || range.high?.value !== undefined) return 'normal';
  return undefined;
}

export function flagLabel(flag: Flag | undefined): string {
  switch (flag) {
    case 'high':
      return translate('flag.high');
    case 'low':
      return translate('flag.low');
    case 'abnormal':
      return translate('flag.abnormal');
    case 'normal':
      return translate('flag.normal');
    default:
      return '';
  }
}

/** Category codes of an observation (`vital-signs`, `laboratory`, …). */
export function categories(observation: fhir4.Observation): string[] {
  return (observation.category ?? []).flatMap((c) => c.coding ?? []).map((c) => c.code ?? '');
}

export function isVitalSign(observation: fhir4.Observation): boolean {
  return categories(observation).includes('vital-signs');
}

export function isLaboratory(observation: fhir4.Observation): boolean {
  return categories(observation).includes('laboratory');
}

/** One numeric point of a series. */
export interface Point {
  at: number;
  value: number;
  /** The second value (diastolic) of a two-component observation. */
  value2?: number;
}

/** The observations of one code, oldest first, with what a trend chart needs. */
export interface Series {
  key: string;
  label: string;
  unit: string;
  points: Point[];
  low?: number;
  high?: number;
  latest: fhir4.Observation;
}

/** Groups observations by code into numeric series (observations without a number are left out). */
export function observationSeries(observations: fhir4.Observation[]): Series[] {
  const groups = new Map<string, fhir4.Observation[]>();
  for (const observation of observations) {
    const key = codeKey(observation.code);
    groups.set(key, [...(groups.get(key) ?? []), observation]);
  }
  const series: Series[] = [];
  for (const [key, group] of groups) {
    const points: Point[] = [];
    let unit = '';
    for (const observation of group) {
      const at = dateValue(observationDate(observation));
      if (Number.isNaN(at)) continue;
      if (observation.valueQuantity?.value !== undefined) {
        points.push({ at, value: observation.valueQuantity.value });
        unit ||= unitOf(observation.valueQuantity);
      } else {
        const values = (observation.component ?? []).map((c) => c.valueQuantity).filter((q) => q?.value !== undefined);
        if (values.length >= 1) {
          points.push({ at, value: values[0]!.value!, value2: values[1]?.value });
          unit ||= unitOf(values[0]);
        }
      }
    }
    if (!points.length) continue;
    points.sort((a, b) => a.at - b.at);
    const sorted = [...group].sort((a, b) => dateValue(observationDate(a)) - dateValue(observationDate(b)));
    const latest = sorted[sorted.length - 1];
    const range = latest.referenceRange?.[0];
    series.push({
      key,
      label: codeText(latest.code) || 'Observation',
      unit,
      points,
      low: range?.low?.value,
      high: range?.high?.value,
      latest,
    });
  }
  return series.sort((a, b) => a.label.localeCompare(b.label));
}

/** A reference's id (`Patient/123` → `123`). */
export function referenceId(reference: fhir4.Reference | undefined): string | undefined {
  const text = reference?.reference;
  if (!text) return undefined;
  const parts = text.split('/');
  return parts.length >= 2 ? parts[parts.length - 1] : undefined;
}

/** A short label of a status code (`active`, `entered-in-error` → `Entered in error`). */
export function statusLabel(status: string | undefined): string {
  if (!status) return '';
  const key = `status.${status}`;
  if (isMessageKey(key)) return translate(key);
  const text = status.replace(/[-_]/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}
