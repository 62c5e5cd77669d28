// The progress bar of background jobs and the small bar chart of the admin's statistics.

import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { ProgressBar, percentDone, progressText } from './ProgressBar';
import { BarChart, barWidth, bars } from './BarChart';

afterEach(cleanup);

describe('percentDone', () => {
  it('is the share done, rounded down, within 0–100', () => {
    expect(percentDone({ done: 0, total: 40 })).toBe(0);
    expect(percentDone({ done: 13, total: 40 })).toBe(32);
    expect(percentDone({ done: 399, total: 400 })).toBe(99);
    expect(percentDone({ done: 400, total: 400 })).toBe(100);
    expect(percentDone({ done: 500, total: 400 })).toBe(100);
    expect(percentDone({ done: -3, total: 400 })).toBe(0);
  });

  it('is unknown without a total', () => {
    expect(percentDone(null)).toBeNull();
    expect(percentDone(undefined)).toBeNull();
    expect(percentDone({ done: 0, total: 0 })).toBeNull();
  });

  it('is said in words', () => {
    expect(progressText({ done: 1200, total: 4800 }, false)).toBe('1,200 of 4,800 (25%)');
    expect(progressText(null, false)).toBe('Working…');
    expect(progressText(null, false, true)).toBe('Waiting to start');
    expect(progressText({ done: 7, total: 7 }, true)).toBe('Done: 7 of 7 (100%)');
    expect(progressText(null, true)).toBe('Done');
  });
});

describe('ProgressBar', () => {
  it('exposes its value to assistive technology and fills to the share done', () => {
    const { rerender } = render(<ProgressBar label="Reindexing" progress={{ done: 30, total: 120 }} />);
    const bar = screen.getByRole('progressbar', { name: 'Reindexing' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(bar.getAttribute('aria-valuetext')).toBe('30 of 120 (25%)');
    expect((bar.firstElementChild as HTMLElement).style.width).toBe('25%');
    expect(screen.getByTestId('progress-text').textContent).toBe('30 of 120 (25%)');

    rerender(<ProgressBar label="Reindexing" progress={null} waiting />);
    expect(bar.getAttribute('aria-valuenow')).toBeNull();
    expect(bar.className).toContain('progress-indeterminate');
    expect(screen.getByTestId('progress-text').textContent).toBe('Waiting to start');

    rerender(<ProgressBar label="Reindexing" progress={{ done: 120, total: 120 }} finished />);
    expect(bar.getAttribute('aria-valuenow')).toBe('100');
    expect(bar.className).toContain('progress-done');
    expect(screen.getByTestId('progress-text').textContent).toBe('Done: 120 of 120 (100%)');

    rerender(<ProgressBar label="Reindexing" progress={{ done: 60, total: 120 }} failed />);
    expect(screen.getByTestId('progress-text').textContent).toBe('Failed');
    expect(bar.className).toContain('progress-failed');
  });
});

describe('BarChart', () => {
  it('orders bars largest first and folds the tail into "other"', () => {
    expect(bars({ b: 2, a: 2, c: 9 })).toEqual([
      { key: 'c', value: 9 },
      { key: 'a', value: 2 },
      { key: 'b', value: 2 },
    ]);
    const many = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`t${i}`, 10 - i]));
    const folded = bars(many, 4);
    expect(folded.map((bar) => bar.key)).toEqual(['t0', 't1', 't2', 'other']);
    expect(folded[3].value).toBe(7 + 6 + 5 + 4 + 3 + 2 + 1);
  });

  it('draws bars in proportion and names every number', () => {
    expect(barWidth(0, 10)).toBe(0);
    expect(barWidth(10, 10)).toBeCloseTo(2 * barWidth(5, 10));
    render(<BarChart title="Users by role" counts={{ patient: 40, physician: 10, admin: 1 }} />);
    const svg = screen.getByRole('img');
    expect(svg.querySelector('title')!.textContent).toBe('Users by role: patient 40, physician 10, admin 1');
    const widths = [...svg.querySelectorAll('rect')].map((rect) => Number(rect.getAttribute('width')));
    expect(widths).toHaveLength(3);
    expect(widths[0]).toBeCloseTo(widths[1] * 4);
  });

  it('says when there is nothing to count', () => {
    render(<BarChart title="Jobs by status" counts={{}} />);
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.getByText('None')).toBeTruthy();
  });
});
