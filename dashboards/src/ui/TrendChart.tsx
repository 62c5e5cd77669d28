// A small inline-SVG trend chart of one series: the values over time, the reference range as
// a band, the latest value labelled. The same data is in a table for screen readers.

import { useId } from 'react';
import { formatDate, formatDateTime, formatNumber, type Series } from '../fhir/format';
import { translate as t } from '../i18n/core';

/** What a chart draws of a series (observations, or any numbers over time such as latencies). */
export type ChartSeries = Pick<Series, 'label' | 'unit' | 'points' | 'low' | 'high'>;

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { top: 10, right: 12, bottom: 22, left: 40 };

export interface ChartScale {
  x: (at: number) => number;
  y: (value: number) => number;
  min: number;
  max: number;
}

/** Scales of `series` in chart coordinates (the reference range stays in view). */
export function chartScale(series: ChartSeries): ChartScale {
  const values = series.points.flatMap((p) => (p.value2 === undefined ? [p.value] : [p.value, p.value2]));
  if (series.low !== undefined) values.push(series.low);
  if (series.high !== undefined) values.push(series.high);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    min -= Math.abs(min) * 0.1 || 1;
    max += Math.abs(max) * 0.1 || 1;
  }
  const margin = (max - min) * 0.08;
  min -= margin;
  max += margin;
  const first = series.points[0].at;
  const last = series.points[series.points.length - 1].at;
  const span = last - first || 1;
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  return {
    x: (at) => (series.points.length === 1 ? PAD.left + innerW / 2 : PAD.left + ((at - first) / span) * innerW),
    y: (value) => PAD.top + (1 - (value - min) / (max - min)) * innerH,
    min,
    max,
  };
}

function path(points: { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

/** An axis label of an instant: its date, or (`time`: samples over minutes) its time of day. */
function axisLabel(at: number, axis: 'date' | 'time', locale?: string): string {
  if (axis === 'time') return new Intl.DateTimeFormat(locale, { timeStyle: 'short' }).format(new Date(at));
  return formatDate(new Date(at).toISOString().slice(0, 10), locale);
}

export function TrendChart({ series, locale, axis = 'date' }: { series: ChartSeries; locale?: string; axis?: 'date' | 'time' }) {
  const titleId = useId();
  const scale = chartScale(series);
  const main = series.points.map((p) => ({ x: scale.x(p.at), y: scale.y(p.value) }));
  const second = series.points
    .filter((p) => p.value2 !== undefined)
    .map((p) => ({ x: scale.x(p.at), y: scale.y(p.value2!) }));
  const latest = series.points[series.points.length - 1];
  const unit = series.unit ? ` ${series.unit}` : '';
  const rangeText =
    series.low !== undefined || series.high !== undefined
      ? t('chart.range', {
          low: series.low !== undefined ? formatNumber(series.low, locale) : '…',
          high: series.high !== undefined ? formatNumber(series.high, locale) : '…',
          unit,
        })
      : '';
  const when = (at: number) => (axis === 'time' ? formatDateTime : formatDate)(new Date(at).toISOString(), locale);
  const summary =
    t('chart.summary', {
      label: series.label,
      count: series.points.length,
      from: when(series.points[0].at),
      to: when(latest.at),
      latest: `${formatNumber(latest.value, locale)}${latest.value2 !== undefined ? `/${formatNumber(latest.value2, locale)}` : ''}${unit}`,
    }) + rangeText;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={titleId} className="chart-svg">
        <title id={titleId}>{summary}</title>
        {series.low !== undefined || series.high !== undefined ? (
          <rect
            className="chart-range"
            x={PAD.left}
            width={WIDTH - PAD.left - PAD.right}
            y={scale.y(series.high ?? scale.max)}
            height={Math.max(0, scale.y(series.low ?? scale.min) - scale.y(series.high ?? scale.max))}
          />
        ) : null}
        <line className="chart-axis" x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={HEIGHT - PAD.bottom} />
        <line className="chart-axis" x1={PAD.left} x2={WIDTH - PAD.right} y1={HEIGHT - PAD.bottom} y2={HEIGHT - PAD.bottom} />
        <text className="chart-label" x={PAD.left - 4} y={PAD.top + 4} textAnchor="end">
          {formatNumber(Number(scale.max.toPrecision(3)), locale)}
        </text>
        <text className="chart-label" x={PAD.left - 4} y={HEIGHT - PAD.bottom} textAnchor="end">
          {formatNumber(Number(scale.min.toPrecision(3)), locale)}
        </text>
        <text className="chart-label" x={PAD.left} y={HEIGHT - 6}>
          {axisLabel(series.points[0].at, axis, locale)}
        </text>
        <text className="chart-label" x={WIDTH - PAD.right} y={HEIGHT - 6} textAnchor="end">
          {axisLabel(latest.at, axis, locale)}
        </text>
        {main.length > 1 ? <path className="chart-line" d={path(main)} /> : null}
        {second.length > 1 ? <path className="chart-line chart-line-2" d={path(second)} /> : null}
        {main.map((p, i) => (
          <circle key={`a${i}`} className="chart-dot" cx={p.x} cy={p.y} r={3} />
        ))}
        {second.map((p, i) => (
          <circle key={`b${i}`} className="chart-dot chart-dot-2" cx={p.x} cy={p.y} r={3} />
        ))}
      </svg>
      <figcaption className="visually-hidden">{summary}</figcaption>
    </figure>
  );
}
