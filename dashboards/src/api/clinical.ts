// Shapes of the clinical-decision API (`/api/clinical`, issue #13), written by hand from the
// agreed contract until the server's OpenAPI document has them; then they become aliases of
// the generated schemas like the rest of `types.ts`. Also the severity scale and the
// MedicationRequest a prescription is signed as (the client's own rules, not payloads).

export type Severity = 'contraindicated' | 'serious' | 'moderate' | 'minor';

/** One drug of `GET /api/clinical/drugs`. */
export interface Drug {
  name: string;
  generic: string;
  brand: boolean;
  rxnorm: string | null;
  classes: string[];
}

/** `GET /api/clinical/drugs`. */
export interface DrugList {
  drugs: Drug[];
}

/** A medication to check: a code, a text, or both. */
export interface MedicationInput {
  system?: string;
  code?: string;
  text?: string;
}

/** The body of `POST /api/clinical/drug-interactions`. */
export interface InteractionCheckRequest {
  patient?: string;
  medications: MedicationInput[];
}

/** How the server understood one checked medication. */
export interface CheckedMedication {
  input: string;
  name: string | null;
  ingredients: string[];
  classes: string[];
  recognised: boolean;
}

/** `POST /api/clinical/acknowledgements` (201), and the history's acknowledgements. */
export interface Acknowledgement {
  id: string;
  patient: string;
  finding: string;
  severity: Severity;
  summary: string;
  reason: string;
  acknowledged_by: string;
  /** Not in the contract: the acknowledging user's display name, should the server add it. */
  acknowledged_by_name?: string | null;
  acknowledged_at: string;
  expires_at: string;
  active: boolean;
  detected_issue: string;
}

/** One interaction or allergy conflict of a check. */
export interface Finding {
  key: string;
  kind: 'interaction' | 'allergy';
  severity: Severity;
  summary: string;
  mechanism: string | null;
  recommendation: string | null;
  source: string;
  evidence: string | null;
  medication: string;
  conflicting: { display: string; reference: string | null };
  acknowledgement: Acknowledgement | null;
}

/** `POST /api/clinical/drug-interactions` (200). */
export interface InteractionCheck {
  check_id: string;
  checked_at: string;
  patient: string | null;
  medications: CheckedMedication[];
  findings: Finding[];
  active_medications: number;
  allergies: number;
  blocking: boolean;
}

/** The body of `POST /api/clinical/acknowledgements`. */
export interface NewAcknowledgement {
  patient: string;
  finding: string;
  reason: string;
  expires_at?: string;
}

/** One earlier check of `GET /api/clinical/history`. */
export interface CheckSummary {
  check_id: string;
  checked_at: string;
  checked_by: string;
  /** Not in the contract: the checking user's display name, should the server add it. */
  checked_by_name?: string | null;
  medications: string[];
  findings: { key: string; severity: Severity; summary: string }[];
}

/** `GET /api/clinical/history?patient=`. */
export interface ClinicalHistory {
  checks: CheckSummary[];
  acknowledgements: Acknowledgement[];
}

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** Most severe first. */
export const SEVERITIES: readonly Severity[] = ['contraindicated', 'serious', 'moderate', 'minor'];

export function severityRank(severity: Severity): number {
  const rank = SEVERITIES.indexOf(severity);
  return rank < 0 ? SEVERITIES.length : rank;
}

/** The most severe of `severities`, or null when there are none. */
export function highestSeverity(severities: Severity[]): Severity | null {
  return severities.reduce<Severity | null>((worst, s) => (worst === null || severityRank(s) < severityRank(worst) ? s : worst), null);
}

/** Findings most severe first (stable otherwise). */
export function sortFindings<T extends { severity: Severity }>(findings: T[]): T[] {
  return [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity));
}

/** Whether a finding stops signing: contraindicated and not (validly) acknowledged. */
export function isBlocking(finding: Finding): boolean {
  return finding.severity === 'contraindicated' && !(finding.acknowledgement?.active ?? false);
}

/** What a prescriber chose: a drug of the list, or a name typed as free text. */
export type Prescribed = { kind: 'drug'; drug: Drug } | { kind: 'text'; text: string };

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
