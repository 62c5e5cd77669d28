// Live updates for the portals over the FHIR Subscriptions websocket (issue #21).
//
// For the signed-in user, `LiveUpdates` makes sure one websocket `Subscription` exists per
// shipped topic the portals follow (reusing the user's own from an earlier visit), asks each for
// a binding token (`$get-ws-binding-token`), opens the websocket, binds them all
// (`bind-with-token`) and asks for the user's notice events (`watch-notifications`, MediLink's
// addition, see ARCHITECTURE.md). Every notification is decided by the server for the user
// (a patient hears about their own record, a physician about the patients who consented), so
// the portal only learns *that* something changed and reads it again through the API.
//
// A closed socket is reopened with exponential backoff (fresh tokens each time), and after a
// reconnect every kind is reported once, since events may have been missed meanwhile. While
// the socket is down, `connected` is false and the pages fall back to slow polling.
// `stop()` closes the socket and deletes the subscriptions (on sign-out).

/**
 * How often a page polls a running document job while the socket is down (the fallback; with
 * the socket up, the pages do not poll at all). The bell keeps its own 30 s.
 */
export const FALLBACK_POLL_MS = 5000;

/** What changed, as the portals' queries see it. */
export type LiveKind = 'documents' | 'results' | 'notifications' | 'consents';

/** Where the shipped topics' canonical URLs start (`medilink_consent::subscriptions::topics`). */
export const TOPIC_BASE = 'https://medilink.example/fhir/SubscriptionTopic/';

/**
 * The topics followed and what each one's events mean to the portals. Filed results come as a
 * `DiagnosticReport` with its `Observation`s in one transaction, so `diagnostic-report` is
 * enough; each topic is one more binding the server looks at 5 times a second.
 */
export const LIVE_TOPICS: Readonly<Record<string, LiveKind>> = {
  'document-reference': 'documents',
  'diagnostic-report': 'results',
  consent: 'consents',
};

const BACKPORT_PROFILE = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription';
const PAYLOAD_CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';

/** The FHIR calls `LiveUpdates` needs (the portal's `ApiClient` provides them). */
export interface LiveApi {
  request<T>(method: string, path: string, options?: { json?: unknown; contentType?: string }): Promise<T>;
}

/** The part of the browser's `WebSocket` used here (a test passes a fake). */
export interface SocketLike {
  send(data: string): void;
  close(): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface LiveOptions {
  /** Told of each change (and of every kind after a reconnect). */
  onChange: (kind: LiveKind) => void;
  /** Told when the socket comes up (`true`) or goes down (`false`). */
  onConnected?: (connected: boolean) => void;
  /** Opens a socket (default: the browser's `WebSocket`). */
  open?: (url: string) => SocketLike;
  /** First reconnect delay; doubled after each failure up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  setTimer?: (run: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

interface Owned {
  id: string;
  topic: string;
}

function topicOf(criteria: unknown): string | undefined {
  if (typeof criteria !== 'string' || !criteria.startsWith(TOPIC_BASE)) return undefined;
  const name = criteria.slice(TOPIC_BASE.length).split('|')[0];
  return name in LIVE_TOPICS ? name : undefined;
}

/** A websocket subscription body for `topic` (payload `empty`: the portal reads the data itself). */
export function subscriptionFor(topic: string): fhir4.Subscription {
  return {
    resourceType: 'Subscription',
    meta: { profile: [BACKPORT_PROFILE] },
    status: 'requested',
    reason: 'MediLink portal live updates',
    criteria: `${TOPIC_BASE}${topic}`,
    channel: {
      type: 'websocket',
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: PAYLOAD_CONTENT, valueCode: 'empty' }] },
    } as fhir4.SubscriptionChannel,
  };
}

function parameter(resource: fhir4.Parameters | undefined, name: string): fhir4.ParametersParameter | undefined {
  return resource?.parameter?.find((p) => p.name === name);
}

/**
 * What a websocket frame means: the kind of an event notification (by its topic), a notice
 * event, or nothing (handshake, heartbeat, anything unknown); `refused` for an
 * OperationOutcome (a spent or unknown token: reconnect with fresh ones).
 */
export function readFrame(data: unknown): LiveKind | 'refused' | undefined {
  if (typeof data !== 'string') return undefined;
  let message: fhir4.Resource;
  try {
    message = JSON.parse(data) as fhir4.Resource;
  } catch {
    return undefined;
  }
  if (message.resourceType === 'OperationOutcome') return 'refused';
  if (message.resourceType === 'Parameters') {
    const event = parameter(message as fhir4.Parameters, 'event');
    return event?.valueCode === 'notifications-changed' ? 'notifications' : undefined;
  }
  if (message.resourceType !== 'Bundle') return undefined;
  const status = (message as fhir4.Bundle).entry?.[0]?.resource as fhir4.Parameters | undefined;
  if (status?.resourceType !== 'Parameters') return undefined;
  if (parameter(status, 'type')?.valueCode !== 'event-notification') return undefined;
  const topic = topicOf(parameter(status, 'topic')?.valueCanonical ?? parameter(status, 'topic')?.valueUri);
  return topic ? LIVE_TOPICS[topic] : undefined;
}

export class LiveUpdates {
  private readonly api: LiveApi;
  private readonly options: LiveOptions;
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  private delay: number;
  private stopped = false;
  private everConnected = false;
  private owned: Owned[] = [];

  constructor(api: LiveApi, options: LiveOptions) {
    this.api = api;
    this.options = options;
    this.delay = options.initialDelayMs ?? 1000;
  }

  /** Starts (or keeps) the live connection. */
  start(): void {
    this.stopped = false;
    if (!this.socket && this.timer === null) void this.connect();
  }

  /** Closes the socket and deletes the subscriptions; idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) {
      (this.options.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>);
      this.timer = null;
    }
    this.closeSocket();
    const owned = this.owned;
    this.owned = [];
    await Promise.allSettled(owned.map((s) => this.api.request('DELETE', `/fhir/R4/Subscription/${encodeURIComponent(s.id)}`)));
  }

  /** The user's websocket subscriptions, one per followed topic, created when missing. */
  private async subscriptions(): Promise<Owned[]> {
    const bundle = await this.api.request<fhir4.Bundle>('GET', '/fhir/R4/Subscription');
    const found = new Map<string, Owned>();
    for (const entry of bundle.entry ?? []) {
      const subscription = entry.resource as fhir4.Subscription | undefined;
      const topic = topicOf(subscription?.criteria);
      const usable = subscription?.id && subscription.channel?.type === 'websocket' && subscription.status !== 'off';
      if (topic && usable && !found.has(topic)) found.set(topic, { id: subscription.id!, topic });
    }
    for (const topic of Object.keys(LIVE_TOPICS)) {
      if (found.has(topic)) continue;
      const created = await this.api.request<fhir4.Subscription>('POST', '/fhir/R4/Subscription', {
        json: subscriptionFor(topic),
        contentType: 'application/fhir+json',
      });
      if (created.id) found.set(topic, { id: created.id, topic });
    }
    return [...found.values()];
  }

  private async connect(): Promise<void> {
    this.timer = null;
    try {
      this.owned = await this.subscriptions();
      const bindings = await Promise.all(
        this.owned.map((s) =>
          this.api.request<fhir4.Parameters>('GET', `/fhir/R4/Subscription/${encodeURIComponent(s.id)}/$get-ws-binding-token`),
        ),
      );
      if (this.stopped) return;
      const tokens = bindings.map((b) => parameter(b, 'token')?.valueString).filter((t): t is string => Boolean(t));
      const url = parameter(bindings[0], 'websocket-url')?.valueUrl;
      if (!url || tokens.length === 0) throw new Error('no websocket binding');
      this.openSocket(url, tokens);
    } catch {
      this.retry();
    }
  }

  private openSocket(url: string, tokens: string[]): void {
    const open = this.options.open ?? ((u: string) => new WebSocket(u) as unknown as SocketLike);
    const socket = open(url);
    this.socket = socket;
    socket.onopen = () => {
      for (const token of tokens) socket.send(`bind-with-token ${token}`);
      socket.send('watch-notifications');
      this.delay = this.options.initialDelayMs ?? 1000;
      this.options.onConnected?.(true);
      if (this.everConnected) {
        // Events may have been missed while the socket was down: read everything again.
        for (const kind of new Set(Object.values(LIVE_TOPICS))) this.options.onChange(kind);
        this.options.onChange('notifications');
      }
      this.everConnected = true;
    };
    socket.onmessage = (event) => {
      const kind = readFrame(event.data);
      if (kind === 'refused') socket.close();
      else if (kind) this.options.onChange(kind);
    };
    socket.onerror = () => socket.close();
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.options.onConnected?.(false);
      this.retry();
    };
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close();
      this.options.onConnected?.(false);
    }
  }

  private retry(): void {
    if (this.stopped || this.timer !== null) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.options.maxDelayMs ?? 30_000);
    this.timer = (this.options.setTimer ?? setTimeout)(() => void this.connect(), wait);
  }
}
