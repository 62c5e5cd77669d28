import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import type { UseQueryResult } from '@tanstack/react-query';
import { PageErrorBoundary, QueryState } from './components';
import { TrendChart, chartScale } from './TrendChart';
import { observationSeries } from '../fhir/format';
import { groupKey, otpauthSecret } from './SecurityPage';
import { ApiError } from '../api/client';

afterEach(cleanup);

const query = <T,>(state: Partial<UseQueryResult<T>>) => state as UseQueryResult<T>;

describe('QueryState', () => {
  it('shows loading, error, empty and data states', () => {
    const { rerender } = render(<QueryState query={query<string[]>({ isPending: true })} empty="Nothing">{(d) => d.join()}</QueryState>);
    expect(screen.getByRole('status').textContent).toMatch(/Loading/);
    rerender(
      <QueryState query={query<string[]>({ isPending: false, isError: true, error: new ApiError(403, 'no consent') })} empty="Nothing">
        {(d) => d.join()}
      </QueryState>,
    );
    expect(screen.getByRole('alert').textContent).toMatch(/no consent/);
    rerender(<QueryState query={query<string[]>({ isPending: false, isError: false, data: [] })} empty="Nothing">{(d) => d.join()}</QueryState>);
    expect(screen.getByText('Nothing')).toBeTruthy();
    rerender(<QueryState query={query<string[]>({ isPending: false, isError: false, data: ['a', 'b'] })} empty="Nothing">{(d) => d.join('+')}</QueryState>);
    expect(screen.getByText('a+b')).toBeTruthy();
  });
});

describe('TrendChart', () => {
  const series = observationSeries(
    [
      ['2024-01-01', 90],
      ['2024-02-01', 130],
      ['2024-03-01', 100],
    ].map(([date, value]) => ({
      resourceType: 'Observation' as const,
      id: String(date),
      status: 'final' as const,
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] },
      effectiveDateTime: String(date),
      valueQuantity: { value: Number(value), unit: 'mg/dL' },
      referenceRange: [{ low: { value: 70 }, high: { value: 99 } }],
    })),
  )[0];

  it('draws every point and the reference band, and describes the series', () => {
    const { container } = render(<TrendChart series={series} locale="en-US" />);
    const svg = screen.getByRole('img');
    expect(svg.querySelectorAll('circle')).toHaveLength(3);
    expect(container.querySelector('.chart-range')).not.toBeNull();
    const title = svg.querySelector('title')!.textContent!;
    expect(title).toContain('Glucose: 3 values from Jan 1, 2024 to Mar 1, 2024, latest 100 mg/dL');
    expect(title).toContain('reference range 70 to 99 mg/dL');
  });

  it('keeps higher values higher on screen and the range in view', () => {
    const scale = chartScale(series);
    expect(scale.y(130)).toBeLessThan(scale.y(90));
    expect(scale.min).toBeLessThan(70);
    expect(scale.max).toBeGreaterThan(130);
    expect(scale.x(series.points[0].at)).toBeLessThan(scale.x(series.points[2].at));
  });
});

describe('TOTP key display', () => {
  it('reads the secret of an otpauth URI and groups it', () => {
    const uri = 'otpauth://totp/MediLink:a%40b.org?secret=JBSWY3DPEHPK3PXP&issuer=MediLink';
    expect(otpauthSecret(uri)).toBe('JBSWY3DPEHPK3PXP');
    expect(groupKey('JBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP');
    expect(otpauthSecret('not a uri')).toBe('');
  });
});

describe('PageErrorBoundary', () => {
  it('says a page failed instead of a blank screen, and tries again on another page', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const Broken = (): never => {
      throw new Error('cannot read total');
    };
    const { rerender } = render(
      <PageErrorBoundary resetKey="/a">
        <Broken />
      </PageErrorBoundary>,
    );
    expect(screen.getByRole('alert').textContent).toBe('This page cannot be shown. cannot read total');
    rerender(
      <PageErrorBoundary resetKey="/b">
        <p>fine</p>
      </PageErrorBoundary>,
    );
    expect(screen.getByText('fine')).toBeTruthy();
    vi.restoreAllMocks();
  });
});
