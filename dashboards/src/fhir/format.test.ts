import { describe, expect, it } from 'vitest';
import {
  ageInYears,
  codeText,
  formatDate,
  formatDateTime,
  formatQuantity,
  formatReferenceRange,
  humanName,
  observationFlag,
  observationSeries,
  observationValue,
  referenceId,
} from './format';
import { timeline } from './timeline';

const glucose = (value: number, date: string, id = date): fhir4.Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] },
  effectiveDateTime: date,
  valueQuantity: { value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
  referenceRange: [{ low: { value: 70, unit: 'mg/dL' }, high: { value: 99, unit: 'mg/dL' } }],
});

describe('dates', () => {
  it('keeps date-only values on their day whatever the time zone', () => {
    expect(formatDate('2024-03-05', 'en-US')).toBe('Mar 5, 2024');
    expect(formatDate('2024-03-05', 'de-DE')).toBe('5. März 2024');
    expect(formatDate('2024-03', 'en-US')).toBe('March 2024');
    expect(formatDate('2024', 'en-US')).toBe('2024');
  });

  it('shows instants in the given locale and zone, and placeholders for nothing', () => {
    expect(formatDateTime('2024-03-05T14:30:00Z', 'en-GB', 'UTC')).toBe('5 Mar 2024, 14:30');
    expect(formatDateTime('2024-03-05T14:30:00Z', 'en-US', 'UTC')).toBe('Mar 5, 2024, 2:30 PM');
    expect(formatDate(undefined)).toBe('—');
    expect(formatDate('not a date', 'en-US')).toBe('not a date');
  });

  it('computes ages around the birthday', () => {
    const now = new Date(Date.UTC(2024, 5, 15));
    expect(ageInYears('1980-06-15', now)).toBe(44);
    expect(ageInYears('1980-06-16', now)).toBe(43);
    expect(ageInYears(undefined, now)).toBeUndefined();
  });
});

describe('quantities and ranges', () => {
  it('formats values with their unit and precision in the locale', () => {
    expect(formatQuantity({ value: 5.4, unit: 'mmol/L' }, 'en-US')).toBe('5.4 mmol/L');
    expect(formatQuantity({ value: 5.4, unit: 'mmol/L' }, 'de-DE')).toBe('5,4 mmol/L');
    expect(formatQuantity({ value: 1200.5, unit: 'mL' }, 'en-US')).toBe('1,200.5 mL');
    expect(formatQuantity({ value: 6.10, code: '%' }, 'en-US')).toBe('6.1%');
    expect(formatQuantity({ value: 3, comparator: '<', code: 'mg/dL' }, 'en-US')).toBe('< 3 mg/dL');
    expect(formatQuantity({ value: 2, code: '{score}' }, 'en-US')).toBe('2');
    expect(formatQuantity(undefined)).toBe('—');
  });

  it('formats reference ranges with one or two bounds', () => {
    expect(formatReferenceRange({ low: { value: 70, unit: 'mg/dL' }, high: { value: 99, unit: 'mg/dL' } }, 'en-US')).toBe('70–99 mg/dL');
    expect(formatReferenceRange({ low: { value: 40, unit: 'mg/dL' } }, 'en-US')).toBe('≥ 40 mg/dL');
    expect(formatReferenceRange({ high: { value: 5.6, unit: '%' } }, 'de-DE')).toBe('≤ 5,6%');
    expect(formatReferenceRange({ text: 'negative' }, 'en-US')).toBe('negative');
    expect(formatReferenceRange(undefined)).toBe('');
  });
});

describe('observations', () => {
  it('shows blood pressure components as systolic/diastolic', () => {
    const bp: fhir4.Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Blood pressure' },
      component: [
        { code: { text: 'Systolic' }, valueQuantity: { value: 120, unit: 'mmHg' } },
        { code: { text: 'Diastolic' }, valueQuantity: { value: 80, unit: 'mmHg' } },
      ],
    };
    expect(observationValue(bp, 'en-US')).toBe('120/80 mmHg');
  });

  it('flags from interpretation first, else from the reference range', () => {
    expect(observationFlag(glucose(120, '2024-01-01'))).toBe('high');
    expect(observationFlag(glucose(60, '2024-01-01'))).toBe('low');
    expect(observationFlag(glucose(80, '2024-01-01'))).toBe('normal');
    const flagged = { ...glucose(80, '2024-01-01'), interpretation: [{ coding: [{ code: 'A' }] }] };
    expect(observationFlag(flagged)).toBe('abnormal');
    const bare = { ...glucose(80, '2024-01-01'), referenceRange: undefined };
    expect(observationFlag(bare)).toBeUndefined();
  });

  it('groups series by code, oldest first, with the latest range', () => {
    const weight: fhir4.Observation = {
      resourceType: 'Observation',
      id: 'w1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
      effectiveDateTime: '2024-02-01',
      valueQuantity: { value: 80, unit: 'kg' },
    };
    const series = observationSeries([glucose(110, '2024-03-01', 'g2'), weight, glucose(90, '2024-01-01', 'g1')]);
    expect(series.map((s) => s.label)).toEqual(['Body weight', 'Glucose']);
    const g = series[1];
    expect(g.points.map((p) => p.value)).toEqual([90, 110]);
    expect(g.unit).toBe('mg/dL');
    expect([g.low, g.high]).toEqual([70, 99]);
    expect(g.latest.id).toBe('g2');
  });
});

describe('names, codes and the timeline', () => {
  it('prefers text, then given and family names', () => {
    expect(humanName([{ text: ' Ada Example ' }])).toBe('Ada Example');
    expect(humanName([{ use: 'old', family: 'Old' }, { use: 'official', given: ['Ada', 'M'], family: 'Example' }])).toBe('Ada M Example');
    expect(humanName(undefined)).toBe('');
    expect(codeText({ coding: [{ code: 'x' }, { display: 'Shown' }] })).toBe('Shown');
    expect(codeText({ coding: [{ code: 'x' }] })).toBe('x');
    expect(referenceId({ reference: 'Patient/p-1' })).toBe('p-1');
  });

  it('orders entries newest first with undated ones last', () => {
    const condition: fhir4.Condition = { resourceType: 'Condition', id: 'c', subject: { reference: 'Patient/p' }, code: { text: 'Asthma' } };
    const entries = timeline([glucose(90, '2023-01-01', 'old'), condition, glucose(95, '2024-01-01', 'new')], 'en-US');
    expect(entries.map((e) => e.key)).toEqual(['Observation/new', 'Observation/old', 'Condition/c']);
    expect(entries[0].detail).toBe('95 mg/dL');
  });
});
