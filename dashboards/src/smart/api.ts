// The portals' side of SMART App Launch (issue #17): the `/api/smart` and
// `/api/admin/smart` calls of the contract in docs (`contract-17`), typed by hand until the
// server's OpenAPI document names them.

import type { ApiClient } from '../api/client';

/** The app asking, as `GET /api/smart/requests/{id}` names it. */
export interface SmartClientInfo {
  client_id: string;
  name: string;
  uri: string | null;
  logo_uri: string | null;
}

/** One requested scope: the server's plain-English words, and whether the app needs it. */
export interface RequestedScope {
  scope: string;
  description: string;
  required: boolean;
}

/** `GET /api/smart/requests/{request_id}`: a pending authorization request. */
export interface AuthorizationRequest {
  client: SmartClientInfo;
  scopes: RequestedScope[];
  patient: { id: string; name: string } | null;
  launch: boolean;
  /** The user approved this app for every scope asked before: decided at once, no screen. */
  remembered: boolean;
  /** A physician's standalone launch: the consented patients to pick from (else null). */
  patients: { id: string; name: string }[] | null;
}

/** `POST /api/smart/requests/{request_id}/decision`. */
export interface Decision {
  approve: boolean;
  scopes: string[];
  /** The patient picked, when the request lists `patients`. */
  patient_id?: string;
}

/** One remembered decision of the signed-in user (`GET /api/smart/authorizations`). */
export interface ConnectedApp {
  client_id: string;
  client_name: string;
  scopes: string[];
  granted_at: string;
  last_used_at: string | null;
}

/** An approved app with a launch URI (`GET /api/smart/apps`). */
export interface LaunchableApp {
  client_id: string;
  name: string;
  launch_uri: string | null;
}

/** A registered client as the admin sees it (`GET /api/admin/smart/clients`). */
export interface SmartClient {
  client_id: string;
  name: string;
  kind: 'public' | 'confidential-asymmetric';
  status: 'pending' | 'approved' | 'suspended';
  redirect_uris: string[];
  launch_uri: string | null;
  scope: string;
  created_at: string;
}

const id = (text: string) => encodeURIComponent(text);

export const smartApi = {
  request: (client: ApiClient, requestId: string) => client.request<AuthorizationRequest>('GET', `/api/smart/requests/${id(requestId)}`),
  decide: (client: ApiClient, requestId: string, decision: Decision) =>
    client.request<{ redirect_to: string }>('POST', `/api/smart/requests/${id(requestId)}/decision`, { json: decision }),
  authorizations: (client: ApiClient) => client.request<ConnectedApp[]>('GET', '/api/smart/authorizations'),
  revoke: (client: ApiClient, clientId: string) => client.request<void>('DELETE', `/api/smart/authorizations/${id(clientId)}`),
  apps: (client: ApiClient) => client.request<LaunchableApp[]>('GET', '/api/smart/apps'),
  launch: (client: ApiClient, clientId: string, patientId: string) =>
    client.request<{ launch_url: string }>('POST', '/api/smart/launch', { json: { client_id: clientId, patient_id: patientId } }),
  clients: (client: ApiClient) => client.request<SmartClient[]>('GET', '/api/admin/smart/clients'),
  setStatus: (client: ApiClient, clientId: string, action: 'approve' | 'suspend') =>
    client.request<void>('POST', `/api/admin/smart/clients/${id(clientId)}/${action}`),
};
