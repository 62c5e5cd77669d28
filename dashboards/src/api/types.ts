// Shapes of the MediLink application API (`/api`), as the server's handlers write them
// (`medilink-server/src/api/*.rs`). FHIR resources use the `fhir4` types of `@types/fhir`.

export type Role = 'patient' | 'physician' | 'admin' | 'researcher';

/** `POST /api/auth/login`, `/refresh`, `/totp/verify`. */
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** `GET /api/auth/me`, `POST /api/auth/register`. */
export interface UserView {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  status: 'active' | 'pending' | 'suspended';
  patient_id: string | null;
  totp_enabled: boolean;
}

/** The answer to a login: a session, or a request for the TOTP code. */
export type LoginResult =
  | { kind: 'signed-in'; tokens: TokenPair }
  | { kind: 'totp-required' };

/** `POST /api/auth/totp/setup`. */
export interface TotpEnrolment {
  otpauth_uri: string;
  /** `data:image/svg+xml;base64,…` */
  qr_svg: string;
}

/** `POST /api/auth/totp/verify`: a full session plus the one-time backup codes. */
export interface TotpVerified extends TokenPair {
  backup_codes: string[];
}

export type ConsentStatus = 'proposed' | 'active' | 'rejected' | 'revoked' | 'expired';

/** A consent as `/api/consents` shows it. */
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

/** What a patient grants (or a physician requests). */
export interface NewGrant {
  grantee?: string;
  patient?: string;
  scope: string[];
  purpose?: string;
  /** RFC 3339 instant. */
  end?: string;
}

/** One row of `GET /api/consents/access-log`. */
export interface AccessLogEntry {
  seq: number;
  at: string;
  actor: string | null;
  /** The display name of the `actor` account (null when unknown or it has none). */
  actor_name: string | null;
  role: Role | null;
  action: string;
  resource_type: string | null;
  resource_ids: string[];
  outcome: number;
  grant: string | null;
  break_glass: boolean;
}

/** One clinician of `GET /api/directory/clinicians` (never an e-mail address). */
export interface Clinician {
  id: string;
  /** The display name (null when the account has none). */
  name: string | null;
  role: 'physician';
}

export type JobStatus = 'pending' | 'processing' | 'completed' | 'needs_review' | 'failed' | 'cancelled';

/** `POST /api/documents` (202). */
export interface DocumentSubmitted {
  job_id: string;
  status: JobStatus;
  document_reference?: string;
}

/** A document-ingest job (`GET /api/documents/jobs[/{id}]`). */
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
export interface SearchHit {
  resourceType: string;
  id: string;
  display?: string;
}
