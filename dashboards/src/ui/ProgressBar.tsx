// A progress bar of a background job (reindex, audit verification, research export): the share
// done as a bar and as text, announced politely; indeterminate while the total is unknown.

import { translate as t } from '../i18n/core';

export interface Progress {
  done: number;
  total: number;
}

/** The share done, 0–100 (rounded down, so 100 only when everything is done). */
export function percentDone(progress: Progress | null | undefined): number | null {
  if (!progress || !Number.isFinite(progress.total) || progress.total <= 0) return null;
  const done = Math.min(Math.max(progress.done, 0), progress.total);
  return Math.floor((done / progress.total) * 100);
}

/** What the bar says: `"120 of 480 (25%)"`, `"Done"`, `"Waiting to start"`, … */
export function progressText(progress: Progress | null | undefined, finished: boolean, waiting = false): string {
  if (finished) return progress && progress.total > 0 ? t('progress.doneOf', { total: progress.total }) : t('progress.done');
  if (waiting) return t('progress.waiting');
  const percent = percentDone(progress);
  if (percent === null || !progress) return t('progress.working');
  return t('progress.of', { done: progress.done, total: progress.total, percent });
}

export function ProgressBar({
  label,
  progress,
  finished = false,
  waiting = false,
  failed = false,
}: {
  /** What is in progress (the bar's accessible name). */
  label: string;
  progress: Progress | null | undefined;
  finished?: boolean;
  waiting?: boolean;
  failed?: boolean;
}) {
  const percent = finished ? 100 : percentDone(progress);
  const text = failed ? t('progress.failed') : progressText(progress, finished, waiting);
  return (
    <div className="progress">
      <div
        className={`progress-track${percent === null && !failed ? ' progress-indeterminate' : ''}${failed ? ' progress-failed' : ''}${finished ? ' progress-done' : ''}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
        aria-valuetext={text}
      >
        <div className="progress-fill" style={{ width: `${percent ?? (failed ? 100 : 35)}%` }} />
      </div>
      <p className="progress-text" aria-live="polite" data-testid="progress-text">
        {text}
      </p>
    </div>
  );
}
