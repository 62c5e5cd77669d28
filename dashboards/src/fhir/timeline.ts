// A patient's records as one timeline, newest first.

import { codeText, dateValue, formatQuantity, observationDate, observationValue, statusLabel, type Locale } from './format';
import { isMessageKey, translate, type MessageKey } from '../i18n/core';

const KIND_KEYS: Record<string, MessageKey> = {
  Observation: 'timeline.kind.Observation',
  Condition: 'timeline.kind.Condition',
  Medication: 'timeline.kind.Medication',
  Allergy: 'timeline.kind.Allergy',
  Immunization: 'timeline.kind.Immunization',
  Encounter: 'timeline.kind.Encounter',
  Procedure: 'timeline.kind.Procedure',
  Report: 'timeline.kind.Report',
  Document: 'timeline.kind.Document',
};

/** The label of an entry's `kind` in the active language. */
export function kindLabel(kind: string): string {
  const key = KIND_KEYS[kind];
  return key ? translate(key) : kind;
}

export interface TimelineEntry {
  key: string;
  at: string | undefined;
  kind: string;
  title: string;
  detail: string;
}

type Clinical =
  | fhir4.Observation
  | fhir4.Condition
  | fhir4.MedicationRequest
  | fhir4.AllergyIntolerance
  | fhir4.Immunization
  | fhir4.Encounter
  | fhir4.Procedure
  | fhir4.DiagnosticReport
  | fhir4.DocumentReference;

export function medicationName(request: fhir4.MedicationRequest | fhir4.MedicationStatement): string {
  return codeText(request.medicationCodeableConcept) || request.medicationReference?.display || translate('type.MedicationRequest');
}

export function dosageText(request: fhir4.MedicationRequest | fhir4.MedicationStatement): string {
  const dosages = 'dosageInstruction' in request ? request.dosageInstruction : (request as fhir4.MedicationStatement).dosage;
  const dosage = dosages?.[0];
  if (!dosage) return '';
  if (dosage.text) return dosage.text;
  const dose = dosage.doseAndRate?.[0]?.doseQuantity;
  const repeat = dosage.timing?.repeat;
  const parts: string[] = [];
  if (dose) parts.push(formatQuantity(dose));
  if (repeat?.frequency && repeat.period && repeat.periodUnit) {
    const unitKey = `unit.${repeat.periodUnit}`;
    const unit = isMessageKey(unitKey) ? translate(unitKey, { count: repeat.period }) : repeat.periodUnit;
    parts.push(
      repeat.period === 1
        ? translate('dosage.perUnit', { frequency: repeat.frequency, unit })
        : translate('dosage.perPeriod', { frequency: repeat.frequency, period: repeat.period, unit }),
    );
  }
  return parts.join(', ');
}

/** The timeline entry of one resource. */
export function timelineEntry(resource: Clinical, locale?: Locale): TimelineEntry {
  const key = `${resource.resourceType}/${resource.id ?? ''}`;
  switch (resource.resourceType) {
    case 'Observation':
      return { key, at: observationDate(resource), kind: 'Observation', title: codeText(resource.code), detail: observationValue(resource, locale) };
    case 'Condition':
      return {
        key,
        at: resource.onsetDateTime ?? resource.recordedDate,
        kind: 'Condition',
        title: codeText(resource.code),
        detail: statusLabel(resource.clinicalStatus?.coding?.[0]?.code),
      };
    case 'MedicationRequest':
      return { key, at: resource.authoredOn, kind: 'Medication', title: medicationName(resource), detail: statusLabel(resource.status) };
    case 'AllergyIntolerance':
      return { key, at: resource.recordedDate ?? resource.onsetDateTime, kind: 'Allergy', title: codeText(resource.code), detail: statusLabel(resource.criticality) };
    case 'Immunization':
      return { key, at: resource.occurrenceDateTime, kind: 'Immunization', title: codeText(resource.vaccineCode), detail: statusLabel(resource.status) };
    case 'Encounter':
      return {
        key,
        at: resource.period?.start,
        kind: 'Encounter',
        title: codeText(resource.type?.[0]) || resource.class?.display || translate('type.Encounter'),
        detail: statusLabel(resource.status),
      };
    case 'Procedure':
      return { key, at: resource.performedDateTime ?? resource.performedPeriod?.start, kind: 'Procedure', title: codeText(resource.code), detail: statusLabel(resource.status) };
    case 'DiagnosticReport':
      return { key, at: resource.effectiveDateTime ?? resource.issued, kind: 'Report', title: codeText(resource.code), detail: statusLabel(resource.status) };
    case 'DocumentReference':
      return { key, at: resource.date, kind: 'Document', title: resource.description ?? codeText(resource.type), detail: statusLabel(resource.status) };
  }
}

/** Entries of `resources`, newest first (undated last). */
export function timeline(resources: Clinical[], locale?: Locale): TimelineEntry[] {
  return resources
    .map((resource) => timelineEntry(resource, locale))
    .sort((a, b) => {
      const x = dateValue(a.at);
      const y = dateValue(b.at);
      if (Number.isNaN(x)) return 1;
      if (Number.isNaN(y)) return -1;
      return y - x;
    });
}
