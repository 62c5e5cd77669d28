// Shapes of the MediLink application API (`/api`), all generated: the server derives its
// OpenAPI document from its request and response types (`medilink-server/openapi.json`, served
// at `/api/openapi.json`), and `npm run gen:api` turns it into `openapi.d.ts`. Nothing here
// restates a payload by hand; only the client's own result of a login is written here. FHIR
// resources use the `fhir4` types of `@types/fhir`.

import type { components } from './openapi';

type Schemas = components['schemas'];

export type Role = Schemas['Role'];
export type AccountStatus = Schemas['AccountStatus'];

/** `POST /api/auth/login`, `/refresh`; a `TotpVerified` is one plus the backup codes. */
export type TokenPair = Schemas['TokenPair'];

/** `GET /api/auth/me`, `POST /api/auth/register`, the admin's user list. */
export type UserView = Schemas['UserView'];

/** The body of `POST /api/auth/register` (patients: with their demographics). */
export type Register = Schemas['Register'];

/** A patient's name, birth date, gender and phone (`/api/account/demographics`). */
export type Demographics = Schemas['Demographics'];

/** The body of `POST /api/auth/login`. */
export type Login = Schemas['Login'];

/** The answer of `POST /api/auth/login`: a session, or a request for the TOTP code. */
export type LoginResult = Schemas['LoginResult'];

/** What `ApiClient.login` makes of a `LoginResult` (the client's own type, not a payload). */
export type LoginOutcome =
  | { kind: 'signed-in'; tokens: TokenPair }
  | { kind: 'totp-required' };

/** `POST /api/auth/totp/setup`. */
export type TotpEnrolment = Schemas['TotpEnrolment'];

/** `POST /api/auth/totp/verify`: a full session plus the one-time backup codes. */
export type TotpVerified = Schemas['TotpVerified'];

export type ConsentStatus = Schemas['ConsentStatus'];

/** A consent as `/api/consents` shows it; `scope` is `"*"` (everything) or type names. */
export type Grant = Schemas['Grant'];

/** `GET /api/consents`. */
export type GrantList = Schemas['GrantList'];

/** What a patient grants (or a physician requests). */
export type NewGrant = Schemas['NewGrant'];

/** One row of `GET /api/consents/access-log`. */
export type AccessLogEntry = Schemas['AccessLogEntry'];

/** `GET /api/consents/access-log`. */
export type AccessLog = Schemas['AccessLog'];

/** One clinician of `GET /api/directory/clinicians` (never an e-mail address). */
export type Clinician = Schemas['Clinician'];

/** `GET /api/directory/clinicians`. */
export type ClinicianList = Schemas['ClinicianList'];

export type JobStatus = Schemas['JobStatus'];

/** `POST /api/documents` (202). */
export type DocumentSubmitted = Schemas['DocumentSubmitted'];

/** A document-ingest job (`GET /api/documents/jobs[/{id}]`). */
export type DocumentJob = Schemas['DocumentJob'];

/** `GET /api/documents/jobs`. */
export type DocumentJobList = Schemas['DocumentJobList'];

/** Whether a job is still moving (poll it). */
export function jobActive(status: JobStatus): boolean {
  return status === 'pending' || status === 'processing';
}

/** One hit of `GET /api/search`. */
export type SearchHit = Schemas['SearchHit'];

/** `GET /api/search`. */
export type SearchResults = Schemas['SearchResults'];

/** An error answer (`application/fhir+json`). */
export type OperationOutcome = Schemas['OperationOutcome'];

// ---- drug-safety checks (`/api/clinical`, issue #13) ----------------------------------------

/** One drug of `GET /api/clinical/drugs` (a generic or a brand name). */
export type DrugView = Schemas['DrugView'];

/** `GET /api/clinical/drugs`. */
export type DrugList = Schemas['DrugList'];

/** A medication to check: a code, a text, or both. */
export type MedicationInput = Schemas['MedicationInput'];

/** The body of `POST /api/clinical/drug-interactions`. */
export type DrugCheckRequest = Schemas['DrugCheckRequest'];

/** How the server understood one checked medication. */
export type ResolvedMedication = Schemas['ResolvedMedication'];

/** `contraindicated`, `serious`, `moderate` or `minor`. */
export type SeverityName = Schemas['SeverityName'];

/** One interaction or allergy conflict of a check. */
export type FindingView = Schemas['FindingView'];

/** `POST /api/clinical/drug-interactions` (200). */
export type DrugCheckReport = Schemas['DrugCheckReport'];

/** `POST /api/clinical/acknowledgements` (201), the history's and a finding's acknowledgement. */
export type Acknowledgement = Schemas['Acknowledgement'];

/** The body of `POST /api/clinical/acknowledgements`. */
export type NewAcknowledgement = Schemas['NewAcknowledgement'];

/** One kept check of `GET /api/clinical/history`. */
export type CheckView = Schemas['CheckView'];

/** `GET /api/clinical/history?patient=`. */
export type DrugHistory = Schemas['DrugHistory'];

// ---- notifications (`/api/notifications`, issue #14) --------------------------------------

/** What a notice is about (`consent.granted`, `security.break_glass`, …). */
export type NotificationKind = Schemas['NotificationKind'];

/** One notice of the inbox; `read_at` `null` (or absent): unread; `link` a portal path. */
export type NotificationView = Schemas['NotificationView'];

/** `GET /api/notifications`: a page, newest first, the unread count and the `next` cursor. */
export type NotificationPage = Schemas['InboxView'];

/** `en`, `es` or `hi`. */
export type NotificationLanguage = Schemas['NotificationLanguage'];

/** A daily window (`HH:MM`, in `UTC` or `±HH:MM`) in which e-mail waits. */
export type QuietHours = Schemas['QuietHoursView'];

/** Whether a kind goes out in the inbox and by e-mail, and whether it is mandatory. */
export type ChannelChoice = Schemas['KindPreference'];

/** `GET /api/notifications/preferences` and the answer of the `PUT`: every kind listed. */
export type NotificationPreferences = Schemas['PreferencesView'];

/** The body of `PUT /api/notifications/preferences` (`mandatory` is ignored). */
export type PreferencesInput = Schemas['PreferencesInput'];

// ---- administration (`/api/admin`, issue #15) ------------------------------------------

/** `GET /api/admin/users`: a page of accounts and how many match in all. */
export type UserPage = Schemas['UserList'];

/** One audit record (`GET /api/admin/audit`, a user's recent activity). */
export type AuditRecord = Schemas['AuditRecord'];

/** `GET /api/admin/audit`: a page, newest first. */
export type AuditPage = Schemas['AuditPage'];

/** `GET /api/admin/users/{id}`. */
export type AdminUserDetail = Schemas['AdminUserDetail'];

/** What an admin can do to an account (`POST /api/admin/users/{id}/{action}`; a path segment, not a schema). */
export type UserAction = 'approve' | 'suspend' | 'reinstate' | 'unlock';

/** The roles `PUT /api/admin/users/{id}/role` accepts (a patient account keeps its role: 409). */
export type AssignableRole = Exclude<Schemas['RoleChange']['role'], 'patient'>;

/** A researcher invitation; `url` only in the answer of its creation. */
export type Invitation = Schemas['Invitation'];

/** The body of `POST /api/admin/invitations`. */
export type NewInvitation = Schemas['NewInvitationBody'];

/** `GET /api/admin/invitations`. */
export type InvitationList = Schemas['InvitationList'];

/** The body of `POST /api/auth/invitations/{token}/accept`. */
export type InvitationAcceptance = Schemas['AcceptInvitation'];

/** `GET /api/admin/stats`: counts by key (type, status, role). */
export type AdminStats = Schemas['AdminStats'];

/** One dependency of `GET /api/admin/health`. */
export type HealthCheck = Schemas['HealthCheck'];

/** `ok`, `degraded`, `down` or (a check) `not-configured`. */
export type HealthStatus = HealthCheck['status'];

/** `GET /api/admin/health`. */
export type AdminHealth = Schemas['AdminHealth'];

/** `POST /api/admin/reindex`, `POST /api/admin/audit/verify` (202). */
export type JobAccepted = Schemas['JobStarted'];

/** How far a job got. */
export type JobProgress = Schemas['ProgressView'];

/** `GET /api/admin/jobs/{id}`. */
export type AdminJob = Schemas['AdminJob'];

/** The result of an audit-chain verification job. */
export type AuditVerifyResult = Schemas['AuditVerifyResult'];

/** `GET /api/admin/audit/verify`: the latest verification (404 when none ran). */
export type AuditVerification = Schemas['LatestVerification'];

// ---- research exports (`/api/research`, issue #15) ----------------------------------------

/** The body of `POST /api/research/exports` (purpose 20–1000 characters, k 2–100). */
export type NewResearchExport = Schemas['NewResearchExport'];

/** `POST /api/research/exports` (202). */
export type ResearchExportAccepted = Schemas['ResearchExportAccepted'];

/** A file of a completed export. */
export type ExportFile = Schemas['ExportFile'];

/** Resources of one type the de-identifier refused. */
export type SkippedResources = Schemas['SkippedResources'];

/** What k-anonymity did to an export. */
export type Anonymity = Schemas['ResearchAnonymity'];

/** `GET /api/research/exports/{id}`: an export, with its files once completed. */
export type ResearchExport = Schemas['ResearchExport'];

/** `GET /api/research/exports`: the caller's exports, newest first. */
export type ResearchExportList = Schemas['ResearchExports'];
