// Shapes of the MediLink application API (`/api`). Where the server's OpenAPI document
// (`medilink-server/openapi.json`, served at `/api/openapi.json`) describes a shape exactly as
// the portals use it, it is re-exported from the types generated from that document
// (`openapi.d.ts`, `npm run gen:api`); the others are written here, each saying how it
// differs. FHIR resources use the `fhir4` types of `@types/fhir`.

import type { components } from './openapi';

type Schemas = components['schemas'];

export type Role = Schemas['Role'];

/** `POST /api/auth/login`, `/refresh`, `/totp/verify`. */
export type TokenPair = Schemas['TokenPair'];

/** `GET /api/auth/me`, `POST /api/auth/register`. */
export type UserView = Schemas['UserView'];

/** The answer to a login: a session, or a request for the TOTP code. */
export type LoginResult =
  | { kind: 'signed-in'; tokens: TokenPair }
  | { kind: 'totp-required' };

/** `POST /api/auth/totp/setup`. */
export type TotpEnrolment = Schemas['TotpEnrolment'];

/** `POST /api/auth/totp/verify`: a full session plus the one-time backup codes. */
export type TotpVerified = Schemas['TotpVerified'];

export type ConsentStatus = Schemas['ConsentStatus'];

/** A consent as `/api/consents` shows it. The document's `id` may be null (a grant not yet
 * stored has none); every grant the API returns is stored, so here it is a string. */
export interface Grant {
  id: string;
  patient: string;
  grantee: string;
  /** `"*"` (everything) or resource type names. */
  scope: '*' | string[];
  purpose: string;
  start: string;
  end: string | null;
  status: ConsentStatus;
  initiator: 'patient' | 'physician';
  break_glass: boolean;
  reason: string | null;
}

/** What a patient grants (or a physician requests). `scope` is optional in the document
 * (default: none); the portals always send it. */
export interface NewGrant {
  grantee?: string;
  patient?: string;
  scope: string[];
  purpose?: string;
  /** RFC 3339 instant. */
  end?: string;
}

/** One row of `GET /api/consents/access-log`. The document's `role` is any string (as
 * audited); the portals read it as a `Role`. */
export interface AccessLogEntry {
  seq: number;
  at: string;
  actor: string | null;
  /** The display name of the `actor` account (null when unknown or it has none). */
  actor_name: string | null;
  role: Role | null;
  action: string;
  resource_type: string | null;
  /** This patient's resources the access returned or changed, as `Type/id`. */
  resource_ids: string[];
  /** Their types. */
  resource_types: string[];
  outcome: number;
  grant: string | null;
  break_glass: boolean;
}

/** One clinician of `GET /api/directory/clinicians` (never an e-mail address). */
export type Clinician = Schemas['Clinician'];

export type JobStatus = Schemas['JobStatus'];

/** `POST /api/documents` (202). */
export type DocumentSubmitted = Schemas['DocumentSubmitted'];

/** A document-ingest job (`GET /api/documents/jobs[/{id}]`). The document requires the
 * fields marked optional here (and types `counts`); the portals tolerate their absence. */
export interface DocumentJob {
  id: string;
  status: JobStatus;
  file_name?: string | null;
  content_type?: string | null;
  size?: number | null;
  /** `Patient/{id}` */
  patient?: string | null;
  document_reference?: string | null;
  created?: string;
  updated?: string;
  attempts?: number;
  max_attempts?: number;
  counts?: Record<string, number> | null;
  error?: string | null;
  /** References of the resources the job wrote (`Observation/…`). */
  resources?: string[];
  /** Extracted results waiting for a physician's review (`needs_review`). */
  review?: { report_date?: string | null; results: Record<string, unknown>[] };
}

/** Whether a job is still moving (poll it). */
export function jobActive(status: JobStatus): boolean {
  return status === 'pending' || status === 'processing';
}

/** One hit of `GET /api/search`. */
export type SearchHit = Schemas['SearchHit'];
