// The patient's whole record as `$everything` returns it: the resources for the timeline
// (filtered by kind and text, grouped by year), the server's warning when the Bundle was
// capped, and the file a patient downloads.

import { timeline, type TimelineEntry } from '../fhir/timeline';
import type { Locale } from '../fhir/format';

/** The resource types the timeline shows, each a kind of entry. */
export const TIMELINE_TYPES = [
  'Observation',
  'Condition',
  'MedicationRequest',
  'AllergyIntolerance',
  'Immunization',
  'Encounter',
  'Procedure',
  'DiagnosticReport',
  'DocumentReference',
] as const;

type TimelineResource = Parameters<typeof timeline>[0][number];

/** The resources of `bundle` the timeline shows (matches of the listed types). */
export function timelineResources(bundle: fhir4.Bundle): TimelineResource[] {
  const types: readonly string[] = TIMELINE_TYPES;
  return (bundle.entry ?? [])
    .filter((entry) => entry.search?.mode !== 'outcome' && entry.resource && types.includes(entry.resource.resourceType))
    .map((entry) => entry.resource as TimelineResource);
}

/** The diagnostics of an `outcome` entry (the server capped the Bundle), if any. */
export function bundleWarning(bundle: fhir4.Bundle): string | undefined {
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.resourceType === 'OperationOutcome') {
      const resource = entry.resource as fhir4.OperationOutcome;
      const text = resource.issue?.map((issue) => issue.diagnostics).filter(Boolean).join(' ');
      if (text) return text;
    }
  }
  return undefined;
}

/** The entries of `kind` (`''`: all) whose title or detail contains `text` (any case). */
export function filterTimeline(entries: TimelineEntry[], kind: string, text: string): TimelineEntry[] {
  const needle = text.trim().toLocaleLowerCase();
  return entries.filter(
    (entry) =>
      (!kind || entry.kind === kind) &&
      (!needle || entry.title.toLocaleLowerCase().includes(needle) || entry.detail.toLocaleLowerCase().includes(needle)),
  );
}

export interface YearGroup {
  /** `YYYY`, or `''` for undated entries. */
  year: string;
  entries: TimelineEntry[];
}

/** Consecutive entries (newest first) grouped by their year; undated ones last. */
export function groupByYear(entries: TimelineEntry[]): YearGroup[] {
  const groups: YearGroup[] = [];
  for (const entry of entries) {
    const year = /^\d{4}/.exec(entry.at ?? '')?.[0] ?? '';
    const last = groups[groups.length - 1];
    if (last && last.year === year) last.entries.push(entry);
    else groups.push({ year, entries: [entry] });
  }
  return groups;
}

/** The kinds present in `entries`, in timeline order of first appearance. */
export function kindsOf(entries: TimelineEntry[]): string[] {
  return [...new Set(entries.map((entry) => entry.kind))];
}

/** The timeline of a `$everything` Bundle. */
export function recordTimeline(bundle: fhir4.Bundle, locale?: Locale): TimelineEntry[] {
  return timeline(timelineResources(bundle), locale);
}

/** The download of a record: a FHIR JSON Bundle named after the day (`YYYY-MM-DD`). */
export function recordFile(bundle: fhir4.Bundle, today: string): { name: string; type: string; text: string } {
  return {
    name: `medilink-record-${today}.json`,
    type: 'application/fhir+json',
    text: JSON.stringify(bundle, null, 2),
  };
}

/** Saves `file` through the browser (a temporary object URL and a download link). */
export function saveFile(file: { name: string; type: string; text: string }): void {
  const url = URL.createObjectURL(new Blob([file.text], { type: file.type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
