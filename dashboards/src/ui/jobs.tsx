// Document jobs as both portals show them: the status badge, what a status means, and the
// results a job extracted for review (from `review.results`, the analysis of the server).

import { Badge } from './components';
import { useT } from '../i18n/I18nProvider';
import type { MessageKey } from '../i18n/core';
import type { DocumentJob, JobStatus } from '../api/types';

type Tone = 'neutral' | 'good' | 'warn' | 'bad' | 'info';

const STATUS: Record<JobStatus, { label: MessageKey; help: MessageKey; tone: Tone }> = {
  pending: { label: 'job.pending', help: 'job.pending.help', tone: 'info' },
  processing: { label: 'job.processing', help: 'job.processing.help', tone: 'info' },
  completed: { label: 'job.completed', help: 'job.completed.help', tone: 'good' },
  needs_review: { label: 'job.needs_review', help: 'job.needs_review.help', tone: 'warn' },
  failed: { label: 'job.failed', help: 'job.failed.help', tone: 'bad' },
  cancelled: { label: 'job.cancelled', help: 'job.cancelled.help', tone: 'neutral' },
};

export function JobStatusBadge({ status }: { status: JobStatus }) {
  const t = useT();
  const shown = STATUS[status];
  return <Badge tone={shown?.tone ?? 'neutral'}>{shown ? t(shown.label) : status}</Badge>;
}

/** What a status means for the person who uploaded. */
export function jobStatusHelp(status: JobStatus, t: (key: MessageKey) => string): string {
  const shown = STATUS[status];
  return shown ? t(shown.help) : '';
}

/** The `Observation/{id}` results a job filed. */
export function filedObservations(job: DocumentJob): string[] {
  return (job.resources ?? []).filter((r) => r.startsWith('Observation/')).map((r) => r.slice('Observation/'.length));
}

/** One extracted result of a job to review, as far as the portal shows it. */
export interface ReviewRow {
  index: number;
  name: string;
  value: string;
  unit: string;
  reason: string;
}

/** The rows of a `needs_review` job's results (tolerant of missing fields). */
export function reviewRows(job: DocumentJob): ReviewRow[] {
  return (job.review?.results ?? []).map((item, position) => {
    const result = item as Record<string, unknown>;
    const extracted = (result.extracted ?? result) as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '');
    return {
      index: typeof result.index === 'number' ? result.index : position,
      name: text(extracted.name),
      value: text(extracted.value_text) || text(extracted.value),
      unit: text(result.ucum_unit) || text(extracted.unit),
      reason: text(result.review_reason),
    };
  });
}
