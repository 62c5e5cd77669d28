// The client's own rules about the drug-safety API (`/api/clinical`, issue #13): the severity
// scale, what blocks a prescription, and the check input and MedicationRequest a choice
// becomes. The payload types are the generated ones (`types.ts`).

import type { DrugView, FindingView, MedicationInput, SeverityName } from './types';
import { translate, type MessageKey } from '../i18n/core';

export type { DrugView, FindingView, MedicationInput, SeverityName } from './types';

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** Most severe first. */
export const SEVERITIES: readonly SeverityName[] = ['contraindicated', 'serious', 'moderate', 'minor'];

export function severityRank(severity: SeverityName): number {
  const rank = SEVERITIES.indexOf(severity);
  return rank < 0 ? SEVERITIES.length : rank;
}

/** The most severe of `severities`, or null when there are none. */
export function highestSeverity(severities: SeverityName[]): SeverityName | null {
  return severities.reduce<SeverityName | null>((worst, s) => (worst === null || severityRank(s) < severityRank(worst) ? s : worst), null);
}

/** Findings most severe first (stable otherwise). */
export function sortFindings<T extends { severity: SeverityName }>(findings: T[]): T[] {
  return [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity));
}

/**
 * Whether a finding stops signing now: the server says it blocks (every contraindicated
 * finding, and a serious or worse allergy conflict) and no acknowledgement is in force.
 */
export function isBlocking(finding: FindingView): boolean {
  return finding.blocks && !(finding.acknowledgement?.active ?? false);
}

/** `DetectedIssue.severity` of an acknowledgement (`high`, `moderate`, `low`) for display. */
export function issueSeverityLabel(severity: string): string {
  const known: Record<string, MessageKey> = { high: 'flag.high', moderate: 'severity.moderate', low: 'flag.low' };
  return known[severity] ? translate(known[severity]) : severity;
}

/** A kept check's severity (`contraindicated` … `minor`), or null when it is not one. */
export function severityName(value: string): SeverityName | null {
  return (SEVERITIES as readonly string[]).includes(value) ? (value as SeverityName) : null;
}

/** What a prescriber chose: a drug of the list, or a name typed as free text. */
export type Prescribed = { kind: 'drug'; drug: DrugView } | { kind: 'text'; text: string };

export function prescribedName(chosen: Prescribed): string {
  return chosen.kind === 'drug' ? chosen.drug.name : chosen.text;
}

/** The medication of a check request: the RxNorm code when known, and the name. */
export function medicationInput(chosen: Prescribed): MedicationInput {
  if (chosen.kind === 'text') return { text: chosen.text };
  const { drug } = chosen;
  return drug.rxnorm ? { system: RXNORM, code: drug.rxnorm, text: drug.name } : { text: drug.name };
}

/** The MedicationRequest that signing a prescription creates. */
export function medicationRequest(patient: string, chosen: Prescribed, dose: string, now: Date = new Date()): fhir4.MedicationRequest {
  const name = prescribedName(chosen);
  const code = chosen.kind === 'drug' ? chosen.drug.rxnorm : null;
  const request: fhir4.MedicationRequest = {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: `Patient/${patient}` },
    authoredOn: now.toISOString(),
    medicationCodeableConcept: {
      ...(code ? { coding: [{ system: RXNORM, code, display: name }] } : {}),
      text: name,
    },
  };
  if (dose.trim()) request.dosageInstruction = [{ text: dose.trim() }];
  return request;
}
