// A small inline-SVG bar chart of counts by key (resources by type, users by role, jobs by
// status): one labelled horizontal bar each, largest first. The same numbers are in its
// accessible name and in a hidden list for screen readers.

import { useId } from 'react';
import { translate as t } from '../i18n/core';
import { formatNumber } from '../fhir/format';

const WIDTH = 320;
const ROW = 18;
const LABEL = 118;
const VALUE = 44;

export interface Bar {
  key: string;
  value: number;
}

/** The bars of `counts`, largest first (ties by name), at most `max` (the rest summed as "other"). */
export function bars(counts: Record<string, number>, max = 8): Bar[] {
  const all = Object.entries(counts)
    .filter(([, value]) => Number.isFinite(value) && value >= 0)
    .map(([key, value]) => ({ key, value }))
    .sort((a, b) => b.value - a.value || a.key.localeCompare(b.key));
  if (all.length <= max) return all;
  const rest = all.slice(max - 1).reduce((sum, bar) => sum + bar.value, 0);
  return [...all.slice(0, max - 1), { key: t('chart.other'), value: rest }];
}

/** The width (chart units) of a bar of `value` when the largest is `largest`. */
export function barWidth(value: number, largest: number): number {
  const room = WIDTH - LABEL - VALUE;
  if (largest <= 0 || value <= 0) return 0;
  return Math.max(1, (value / largest) * room);
}

export function BarChart({ title, counts, max }: { title: string; counts: Record<string, number>; max?: number }) {
  const titleId = useId();
  const rows = bars(counts, max);
  const largest = rows.reduce((m, bar) => Math.max(m, bar.value), 0);
  const summary = rows.length ? `${title}: ${rows.map((bar) => `${bar.key} ${formatNumber(bar.value)}`).join(', ')}` : t('chart.none', { title });
  const height = Math.max(1, rows.length) * ROW + 4;
  return (
    <figure className="chart bar-chart">
      <figcaption className="bar-chart-title">{title}</figcaption>
      {rows.length === 0 ? (
        <p className="state state-empty">{t('chart.empty')}</p>
      ) : (
        <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby={titleId} className="chart-svg">
          <title id={titleId}>{summary}</title>
          {rows.map((bar, i) => {
            const y = 2 + i * ROW;
            return (
              <g key={bar.key}>
                <text className="chart-label bar-label" x={LABEL - 6} y={y + ROW / 2 + 3} textAnchor="end">
                  {bar.key.length > 20 ? `${bar.key.slice(0, 19)}…` : bar.key}
                </text>
                <rect className="bar" x={LABEL} y={y + 3} width={barWidth(bar.value, largest)} height={ROW - 6} rx={2} />
                <text className="chart-label bar-value" x={LABEL + barWidth(bar.value, largest) + 4} y={y + ROW / 2 + 3}>
                  {bar.value.toLocaleString('en-US')}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}
