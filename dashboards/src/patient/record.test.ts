import { describe, expect, it } from 'vitest';
import { bundleWarning, filterTimeline, groupByYear, kindsOf, recordFile, recordTimeline, timelineResources } from './record';
import { filedObservations, reviewRows } from '../ui/jobs';
import type { DocumentJob } from '../api/types';

const subject = { reference: 'Patient/p1' };
const bundle: fhir4.Bundle = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: [
    { resource: { resourceType: 'Patient', id: 'p1' }, search: { mode: 'match' } },
    { resource: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'Glucose' }, subject, effectiveDateTime: '2024-03-09', valueQuantity: { value: 101, unit: 'mg/dL' } } as fhir4.Observation },
    { resource: { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'Body weight' }, subject, effectiveDateTime: '2023-12-01', valueQuantity: { value: 80, unit: 'kg' } } as fhir4.Observation },
    { resource: { resourceType: 'Condition', id: 'c1', subject, code: { text: 'Prediabetes' }, onsetDateTime: '2024-01-02' } as fhir4.Condition },
    { resource: { resourceType: 'Condition', id: 'c2', subject, code: { text: 'Old thing' } } as fhir4.Condition },
    { resource: { resourceType: 'Consent', id: 'k1', status: 'active', scope: {}, category: [] } as fhir4.Consent },
    { resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'too-costly', diagnostics: 'capped at 5000' }] } as fhir4.OperationOutcome, search: { mode: 'outcome' } },
  ],
};

describe('the record of $everything', () => {
  it('keeps the clinical resources for the timeline', () => {
    expect(timelineResources(bundle).map((r) => `${r.resourceType}/${r.id}`)).toEqual(['Observation/o1', 'Observation/o2', 'Condition/c1', 'Condition/c2']);
  });

  it('groups the timeline by year, newest first, undated last', () => {
    const entries = recordTimeline(bundle, 'en-US');
    expect(groupByYear(entries).map((g) => [g.year, g.entries.map((e) => e.title)])).toEqual([
      ['2024', ['Glucose', 'Prediabetes']],
      ['2023', ['Body weight']],
      ['', ['Old thing']],
    ]);
    expect(kindsOf(entries)).toEqual(['Observation', 'Condition']);
  });

  it('filters by kind and by text in the title or detail', () => {
    const entries = recordTimeline(bundle, 'en-US');
    expect(filterTimeline(entries, 'Condition', '').map((e) => e.title)).toEqual(['Prediabetes', 'Old thing']);
    expect(filterTimeline(entries, '', 'GLUC').map((e) => e.title)).toEqual(['Glucose']);
    expect(filterTimeline(entries, '', '80 kg').map((e) => e.title)).toEqual(['Body weight']);
    expect(filterTimeline(entries, 'Condition', 'gluc')).toEqual([]);
  });

  it("says when the server capped the Bundle", () => {
    expect(bundleWarning(bundle)).toBe('capped at 5000');
    expect(bundleWarning({ resourceType: 'Bundle', type: 'searchset' })).toBeUndefined();
  });

  it('downloads as a dated FHIR JSON file', () => {
    const file = recordFile(bundle, '2024-05-01');
    expect(file.name).toBe('medilink-record-2024-05-01.json');
    expect(file.type).toBe('application/fhir+json');
    expect(JSON.parse(file.text)).toEqual(bundle);
  });
});

describe('document jobs', () => {
  const job = (patch: Partial<DocumentJob>): DocumentJob => ({
    id: 'j1',
    status: 'completed',
    file_name: 'report.pdf',
    content_type: 'application/pdf',
    size: 2048,
    patient: 'Patient/p1',
    document_reference: 'DocumentReference/d1',
    created: '2024-01-01T00:00:00Z',
    updated: '2024-01-01T00:00:00Z',
    attempts: 1,
    max_attempts: 3,
    counts: null,
    error: null,
    ...patch,
  });

  it('lists the Observations a job filed', () => {
    expect(filedObservations(job({ resources: ['DiagnosticReport/r1', 'Observation/o1', 'Observation/o2'] }))).toEqual(['o1', 'o2']);
    expect(filedObservations(job({}))).toEqual([]);
  });

  it('reads the results to review, whatever fields they lack', () => {
    const rows = reviewRows(
      job({
        status: 'needs_review',
        review: {
          report_date: null,
          results: [
            { index: 0, extracted: { name: 'Glucose', value_text: '101', unit: 'mg/dL' }, ucum_unit: 'mg/dL', review_reason: 'low confidence' },
            { extracted: { name: 'HGB', value: 13.5 } },
          ],
        },
      }),
    );
    expect(rows).toEqual([
      { index: 0, name: 'Glucose', value: '101', unit: 'mg/dL', reason: 'low confidence' },
      { index: 1, name: 'HGB', value: '13.5', unit: '', reason: '' },
    ]);
  });
});
