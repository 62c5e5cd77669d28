// A small typed client of the MediLink server: the application API under `/api` and the FHIR
// R4 API under `/fhir/R4`. It keeps the session (access + refresh token) in a `TokenStore`,
// refreshes once on an expired token, and turns every error into an `ApiError` carrying the
// server's OperationOutcome diagnostics.

import type {
  AccessLog,
  AccessLogEntry,
  Clinician,
  ClinicianList,
  Demographics,
  DocumentJob,
  DocumentJobList,
  DocumentSubmitted,
  Grant,
  GrantList,
  LoginOutcome,
  LoginResult,
  NewGrant,
  Register,
  SearchHit,
  SearchResults,
  TokenPair,
  TotpEnrolment,
  TotpVerified,
  UserView,
  Acknowledgement,
  DrugCheckReport,
  DrugCheckRequest,
  DrugHistory,
  DrugList,
  DrugView,
  NewAcknowledgement,
  NotificationPage,
  NotificationPreferences,
  PreferencesInput,
  AdminHealth,
  AdminJob,
  AdminStats,
  AdminUserDetail,
  AssignableRole,
  AuditPage,
  AuditVerification,
  Invitation,
  InvitationAcceptance,
  InvitationList,
  JobAccepted,
  NewInvitation,
  NewResearchExport,
  ResearchExport,
  ResearchExportAccepted,
  ResearchExportList,
  UserAction,
  UserPage,
} from './types';
import { translate } from '../i18n/core';

/** The query of `GET /api/admin/users` (`q`: part of an e-mail or name). */
export interface UserFilter {
  role?: string;
  status?: string;
  q?: string;
  pending?: boolean;
  limit?: number;
  offset?: number;
}

/** The query of `GET /api/admin/audit` (instants in RFC 3339). */
export interface AuditQuery {
  actor?: string;
  patient?: string;
  action?: string;
  resource_type?: string;
  since?: string;
  until?: string;
  before?: number;
  limit?: number;
  break_glass?: boolean;
}

/** An error answer of the server (or a network failure, `status` 0). */
export class ApiError extends Error {
  readonly status: number;
  /** The first `issue.code` of the OperationOutcome, when there was one. */
  readonly code: string | undefined;

  constructor(status: number, message: string, code?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  get forbidden(): boolean {
    return this.status === 403;
  }

  get notFound(): boolean {
    return this.status === 404;
  }
}

/** Where a session's tokens live. */
export interface TokenStore {
  load(): TokenPair | null;
  save(tokens: TokenPair): void;
  clear(): void;
}

/** Tokens in `sessionStorage` under `key` (one key per portal: they share an origin). */
export function sessionTokenStore(key: string): TokenStore {
  return {
    load() {
      try {
        const text = window.sessionStorage.getItem(key);
        return text ? (JSON.parse(text) as TokenPair) : null;
      } catch {
        return null;
      }
    },
    save(tokens) {
      window.sessionStorage.setItem(key, JSON.stringify(tokens));
    },
    clear() {
      window.sessionStorage.removeItem(key);
    },
  };
}

/** Tokens in memory (tests). */
export function memoryTokenStore(initial: TokenPair | null = null): TokenStore {
  let tokens = initial;
  return {
    load: () => tokens,
    save: (next) => {
      tokens = next;
    },
    clear: () => {
      tokens = null;
    },
  };
}

export interface ClientOptions {
  store: TokenStore;
  /** Origin of the server; same origin when empty. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called when the session ends (refresh refused). */
  onSignedOut?: () => void;
}

type Query = Record<string, string | number | boolean | undefined | null>;

interface RequestOptions {
  query?: Query;
  json?: unknown;
  form?: FormData;
  /** Send the bearer token (default) or not. */
  auth?: boolean;
  contentType?: string;
}

/** The message of an error body: OperationOutcome diagnostics, or the status text. */
export function errorMessage(status: number, body: unknown, statusText = ''): { message: string; code?: string } {
  if (body && typeof body === 'object' && 'issue' in body) {
    const issue = (body as fhir4.OperationOutcome).issue?.[0];
    const message = issue?.diagnostics ?? issue?.details?.text;
    if (message) return { message, code: issue?.code };
  }
  if (status === 0) return { message: translate('error.offline') };
  return { message: statusText ? `${status} ${statusText}` : translate('error.status', { status: String(status) }) };
}

export function buildQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The resources of a search Bundle (matches only, not `_include`d ones). */
export function bundleResources<T extends fhir4.Resource>(bundle: fhir4.Bundle): T[] {
  return (bundle.entry ?? [])
    .filter((entry) => entry.search?.mode !== 'include' && entry.resource)
    .map((entry) => entry.resource as T);
}

/** The `next` link of a search Bundle as a same-origin path, if any. */
export function nextLink(bundle: fhir4.Bundle): string | undefined {
  const url = bundle.link?.find((link) => link.relation === 'next')?.url;
  if (!url) return undefined;
  try {
    const parsed = new URL(url, 'http://placeholder');
    return parsed.pathname + parsed.search;
  } catch {
    return undefined;
  }
}

export class ApiClient {
  private readonly store: TokenStore;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly onSignedOut?: () => void;
  private refreshing: Promise<boolean> | null = null;

  constructor(options: ClientOptions) {
    this.store = options.store;
    this.baseUrl = options.baseUrl ?? '';
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onSignedOut = options.onSignedOut;
  }

  get signedIn(): boolean {
    return this.store.load() !== null;
  }

  /** One request; on `401` with a session, refreshes once and retries. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.respond(method, path, options);
    const text = await response.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) {
      const { message, code } = errorMessage(response.status, body, response.statusText);
      throw new ApiError(response.status, message, code);
    }
    return body as T;
  }

  /** A `GET` of a file (with the session's token) as a `Blob`; errors as in `request`. */
  async download(path: string): Promise<Blob> {
    const response = await this.respond('GET', path, {});
    if (!response.ok) {
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: the status says it.
      }
      const { message, code } = errorMessage(response.status, body, response.statusText);
      throw new ApiError(response.status, message, code);
    }
    return response.blob();
  }

  /** The response of one request, after one refresh and retry on `401` with a session. */
  private async respond(method: string, path: string, options: RequestOptions): Promise<Response> {
    const auth = options.auth ?? true;
    let response = await this.send(method, path, options, auth);
    if (response.status === 401 && auth && this.store.load()) {
      if (await this.refresh()) {
        response = await this.send(method, path, options, auth);
      }
    }
    return response;
  }

  private async send(method: string, path: string, options: RequestOptions, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/fhir+json' };
    const tokens = auth ? this.store.load() : null;
    if (tokens) headers.authorization = `Bearer ${tokens.access_token}`;
    let body: BodyInit | undefined;
    if (options.form) {
      body = options.form;
    } else if (options.json !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.json);
    }
    try {
      return await this.fetchImpl(this.baseUrl + path + buildQuery(options.query), { method, headers, body });
    } catch {
      throw new ApiError(0, errorMessage(0, undefined).message);
    }
  }

  /** Rotates the refresh token; `false` (and signed out) when the server refuses it. */
  private refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const tokens = this.store.load();
        if (!tokens) return false;
        try {
          const response = await this.fetchImpl(`${this.baseUrl}/api/auth/refresh`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ refresh_token: tokens.refresh_token }),
          });
          if (!response.ok) throw new Error('refresh refused');
          this.store.save((await response.json()) as TokenPair);
          return true;
        } catch {
          this.store.clear();
          this.onSignedOut?.();
          return false;
        }
      })().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  // ---- accounts -------------------------------------------------------------------------

  async login(email: string, password: string, totpCode?: string): Promise<LoginOutcome> {
    const body = await this.request<LoginResult>('POST', '/api/auth/login', {
      json: { email, password, totp_code: totpCode || undefined },
      auth: false,
    });
    if ('mfa_required' in body) return { kind: 'totp-required' };
    this.store.save(body);
    return { kind: 'signed-in', tokens: body };
  }

  /** Creates an account; a patient's demographics are required (a 400 names a missing one). */
  register(registration: Register): Promise<UserView> {
    return this.request('POST', '/api/auth/register', { json: registration, auth: false });
  }

  /** The signed-in patient's demographics (`403` for other roles). */
  demographics(): Promise<Demographics> {
    return this.request('GET', '/api/account/demographics');
  }

  /** Corrects them: a new version of the patient's record; answers what was stored. */
  saveDemographics(demographics: Demographics): Promise<Demographics> {
    return this.request('PUT', '/api/account/demographics', { json: demographics });
  }

  async logout(): Promise<void> {
    const tokens = this.store.load();
    try {
      if (tokens) await this.request('POST', '/api/auth/logout', { json: { refresh_token: tokens.refresh_token } });
    } finally {
      this.store.clear();
    }
  }

  me(): Promise<UserView> {
    return this.request('GET', '/api/auth/me');
  }

  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.request('POST', '/api/auth/password', {
      json: { current_password: currentPassword, new_password: newPassword },
    });
  }

  totpSetup(): Promise<TotpEnrolment> {
    return this.request('POST', '/api/auth/totp/setup');
  }

  async totpVerify(code: string): Promise<TotpVerified> {
    const verified = await this.request<TotpVerified>('POST', '/api/auth/totp/verify', { json: { code } });
    const { backup_codes: _codes, ...tokens } = verified;
    this.store.save(tokens);
    return verified;
  }

  totpDisable(code: string): Promise<void> {
    return this.request('POST', '/api/auth/totp/disable', { json: { code } });
  }

  // ---- consents -------------------------------------------------------------------------

  async consents(): Promise<Grant[]> {
    return (await this.request<GrantList>('GET', '/api/consents')).consents;
  }

  createConsent(grant: NewGrant): Promise<Grant> {
    return this.request('POST', '/api/consents', { json: grant });
  }

  revokeConsent(id: string): Promise<Grant> {
    return this.request('DELETE', `/api/consents/${encodeURIComponent(id)}`);
  }

  answerConsent(id: string, accept: boolean): Promise<Grant> {
    return this.request('POST', `/api/consents/${encodeURIComponent(id)}/${accept ? 'accept' : 'decline'}`);
  }

  breakGlass(patient: string, reason: string): Promise<Grant> {
    return this.request('POST', '/api/consents/break-glass', { json: { patient, reason } });
  }

  async accessLog(limit = 200): Promise<AccessLogEntry[]> {
    return (await this.request<AccessLog>('GET', '/api/consents/access-log', { query: { limit } }))
      .entries;
  }

  /** Active physicians whose name contains `q` (at least 2 characters), for sharing. */
  async clinicians(q: string, limit = 10): Promise<Clinician[]> {
    return (await this.request<ClinicianList>('GET', '/api/directory/clinicians', { query: { q, limit } }))
      .clinicians;
  }

  async search(q: string, limit = 20): Promise<SearchHit[]> {
    return (await this.request<SearchResults>('GET', '/api/search', { query: { q, limit } })).results;
  }

  // ---- documents ------------------------------------------------------------------------

  uploadDocument(patient: string, file: File | Blob, fileName?: string): Promise<DocumentSubmitted> {
    const form = new FormData();
    form.append('patient', patient);
    if (fileName) form.append('file', file, fileName);
    else form.append('file', file);
    return this.request('POST', '/api/documents', { form });
  }

  documentJob(id: string): Promise<DocumentJob> {
    return this.request('GET', `/api/documents/jobs/${encodeURIComponent(id)}`);
  }

  async documentJobs(status?: string): Promise<DocumentJob[]> {
    return (await this.request<DocumentJobList>('GET', '/api/documents/jobs', { query: { status } })).jobs;
  }

  /** Cancels a pending, failed or to-be-reviewed job (`409` once it runs or completed). */
  cancelDocumentJob(id: string): Promise<DocumentJob> {
    return this.request('DELETE', `/api/documents/jobs/${encodeURIComponent(id)}`);
  }

  /** Accepts the reviewed results of a `needs_review` job. */
  acceptDocumentJob(id: string): Promise<DocumentJob> {
    return this.request('POST', `/api/documents/jobs/${encodeURIComponent(id)}/accept`, { json: {} });
  }

  // ---- clinical decision support ---------------------------------------------------------

  /** Drugs whose name (brand or generic) matches `q`, for choosing what to prescribe. */
  async drugs(q: string, limit = 10): Promise<DrugView[]> {
    return (await this.request<DrugList>('GET', '/api/clinical/drugs', { query: { q, limit } })).drugs;
  }

  /** Checks medications against each other and, with a patient, their record. */
  checkInteractions(check: DrugCheckRequest): Promise<DrugCheckReport> {
    return this.request('POST', '/api/clinical/drug-interactions', { json: check });
  }

  acknowledge(acknowledgement: NewAcknowledgement): Promise<Acknowledgement> {
    return this.request('POST', '/api/clinical/acknowledgements', { json: acknowledgement });
  }

  /** A patient's earlier checks and acknowledgements. */
  clinicalHistory(patient: string): Promise<DrugHistory> {
    return this.request('GET', '/api/clinical/history', { query: { patient } });
  }

  // ---- notifications --------------------------------------------------------------------

  /** The inbox, newest first: `limit` notices (1–100) older than the cursor `before`. */
  notifications(limit = 20, before?: string | null): Promise<NotificationPage> {
    return this.request('GET', '/api/notifications', { query: { limit, before } });
  }

  markNotificationRead(id: string): Promise<void> {
    return this.request('POST', `/api/notifications/${encodeURIComponent(id)}/read`);
  }

  markAllNotificationsRead(): Promise<void> {
    return this.request('POST', '/api/notifications/read-all');
  }

  notificationPreferences(): Promise<NotificationPreferences> {
    return this.request('GET', '/api/notifications/preferences');
  }

  /** Stores the preferences; the server answers with what it stored (400 naming a problem). */
  saveNotificationPreferences(preferences: PreferencesInput): Promise<NotificationPreferences> {
    return this.request('PUT', '/api/notifications/preferences', { json: preferences });
  }

  // ---- administration (`/api/admin`, admins with TOTP) ----------------------------------

  adminUsers(filter: UserFilter = {}): Promise<UserPage> {
    return this.request('GET', '/api/admin/users', { query: { ...filter } });
  }

  adminUser(id: string): Promise<AdminUserDetail> {
    return this.request('GET', `/api/admin/users/${encodeURIComponent(id)}`);
  }

  /** Approve, suspend, reinstate or unlock an account (409 naming an invalid transition). */
  userAction(id: string, action: UserAction): Promise<UserView> {
    return this.request('POST', `/api/admin/users/${encodeURIComponent(id)}/${action}`);
  }

  /** 409 for the last admin or a patient account; 400 for a physician without a name. */
  setRole(id: string, role: AssignableRole): Promise<UserView> {
    return this.request('PUT', `/api/admin/users/${encodeURIComponent(id)}/role`, { json: { role } });
  }

  /** A researcher invitation; its `url` is in this answer only. */
  createInvitation(invitation: NewInvitation): Promise<Invitation> {
    return this.request('POST', '/api/admin/invitations', { json: invitation });
  }

  async invitations(): Promise<Invitation[]> {
    return (await this.request<InvitationList>('GET', '/api/admin/invitations')).invitations;
  }

  revokeInvitation(id: string): Promise<void> {
    return this.request('DELETE', `/api/admin/invitations/${encodeURIComponent(id)}`);
  }

  /** Accepts an invitation (public: the token is the credential); 404 unknown, 410 used or expired. */
  acceptInvitation(token: string, acceptance: InvitationAcceptance): Promise<UserView> {
    return this.request('POST', `/api/auth/invitations/${encodeURIComponent(token)}/accept`, {
      json: acceptance,
      auth: false,
    });
  }

  adminStats(): Promise<AdminStats> {
    return this.request('GET', '/api/admin/stats');
  }

  adminHealth(): Promise<AdminHealth> {
    return this.request('GET', '/api/admin/health');
  }

  /** Starts a full-text rebuild; follow it with `adminJob`. */
  reindex(): Promise<JobAccepted> {
    return this.request('POST', '/api/admin/reindex');
  }

  adminJob(id: string): Promise<AdminJob> {
    return this.request('GET', `/api/admin/jobs/${encodeURIComponent(id)}`);
  }

  audit(filter: AuditQuery = {}): Promise<AuditPage> {
    return this.request('GET', '/api/admin/audit', { query: { ...filter } });
  }

  /** Starts a verification of the audit hash chain; follow it with `adminJob`. */
  verifyAudit(): Promise<JobAccepted> {
    return this.request('POST', '/api/admin/audit/verify');
  }

  /** The latest verification of the audit chain, or `null` when none ran. */
  async latestAuditVerification(): Promise<AuditVerification | null> {
    try {
      return await this.request<AuditVerification>('GET', '/api/admin/audit/verify');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  // ---- research exports (`/api/research`, researchers) -----------------------------------

  createResearchExport(request: NewResearchExport): Promise<ResearchExportAccepted> {
    return this.request('POST', '/api/research/exports', { json: request });
  }

  async researchExports(): Promise<ResearchExport[]> {
    return (await this.request<ResearchExportList>('GET', '/api/research/exports')).exports;
  }

  researchExport(id: string): Promise<ResearchExport> {
    return this.request('GET', `/api/research/exports/${encodeURIComponent(id)}`);
  }

  cancelResearchExport(id: string): Promise<void> {
    return this.request('DELETE', `/api/research/exports/${encodeURIComponent(id)}`);
  }

  // ---- FHIR -----------------------------------------------------------------------------

  read<T extends fhir4.Resource>(type: T['resourceType'], id: string): Promise<T> {
    return this.request('GET', `/fhir/R4/${type}/${encodeURIComponent(id)}`);
  }

  create<T extends fhir4.Resource>(resource: T): Promise<T> {
    return this.request('POST', `/fhir/R4/${resource.resourceType}`, {
      json: resource,
      contentType: 'application/fhir+json',
    });
  }

  /** The patient and every resource of their compartment (`$everything`, one Bundle). */
  everything(patient: string): Promise<fhir4.Bundle> {
    return this.request('GET', `/fhir/R4/Patient/${encodeURIComponent(patient)}/$everything`);
  }

  /** A search; follows `next` links up to `maxPages` pages. */
  async searchAll<T extends fhir4.Resource>(
    type: T['resourceType'],
    params: Query = {},
    maxPages = 5,
  ): Promise<{ resources: T[]; total?: number }> {
    let bundle = await this.request<fhir4.Bundle>('GET', `/fhir/R4/${type}`, { query: params });
    const resources = bundleResources<T>(bundle);
    const total = bundle.total;
    for (let page = 1; page < maxPages; page++) {
      const next = nextLink(bundle);
      if (!next) break;
      bundle = await this.request<fhir4.Bundle>('GET', next);
      resources.push(...bundleResources<T>(bundle));
    }
    return { resources, total };
  }
}
