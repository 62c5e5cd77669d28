import { describe, expect, it } from 'vitest';
import { LIVE_TOPICS, LiveUpdates, TOPIC_BASE, readFrame, type LiveKind, type SocketLike } from './live';

/** A fake browser WebSocket: records what the client sends; the test opens, speaks and closes it. */
class FakeSocket implements SocketLike {
  sent: string[] = [];
  closed = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({});
  }
  open() {
    this.onopen?.({});
  }
  receive(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  /** The server goes away. */
  drop() {
    this.close();
  }
}

/** A fake server's FHIR API: the user's subscriptions, tokens numbered per request. */
function fakeApi(existing: fhir4.Subscription[] = []) {
  const subscriptions = [...existing];
  const calls: string[] = [];
  let tokens = 0;
  let next = 0;
  const api = {
    async request<T>(method: string, path: string, options?: { json?: unknown }): Promise<T> {
      calls.push(`${method} ${path}`);
      if (method === 'GET' && path === '/fhir/R4/Subscription') {
        return { resourceType: 'Bundle', type: 'searchset', entry: subscriptions.map((resource) => ({ resource })) } as T;
      }
      if (method === 'POST' && path === '/fhir/R4/Subscription') {
        const created = { ...(options?.json as fhir4.Subscription), id: `s${++next}`, status: 'active' as const };
        subscriptions.push(created);
        return created as T;
      }
      const token = path.match(/^\/fhir\/R4\/Subscription\/([^/]+)\/\$get-ws-binding-token$/);
      if (method === 'GET' && token) {
        return {
          resourceType: 'Parameters',
          parameter: [
            { name: 'token', valueString: `t${++tokens}-${token[1]}` },
            { name: 'websocket-url', valueUrl: 'ws://server/fhir/R4/$subscription-ws' },
          ],
        } as T;
      }
      const deleted = path.match(/^\/fhir\/R4\/Subscription\/([^/]+)$/);
      if (method === 'DELETE' && deleted) {
        subscriptions.splice(
          subscriptions.findIndex((s) => s.id === deleted[1]),
          1,
        );
        return undefined as T;
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
  };
  return { api, calls, subscriptions };
}

/** Timers the test runs by hand. */
function manualTimers() {
  const pending: { run: () => void; ms: number }[] = [];
  return {
    pending,
    setTimer: (run: () => void, ms: number) => {
      const timer = { run, ms };
      pending.push(timer);
      return timer;
    },
    clearTimer: (timer: unknown) => {
      const at = pending.indexOf(timer as { run: () => void; ms: number });
      if (at >= 0) pending.splice(at, 1);
    },
    fire() {
      const timer = pending.shift();
      if (!timer) throw new Error('no timer pending');
      timer.run();
      return timer.ms;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function eventNotification(topic: string) {
  return {
    resourceType: 'Bundle',
    type: 'history',
    entry: [
      {
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: 'Subscription/s1' } },
            { name: 'topic', valueCanonical: `${TOPIC_BASE}${topic}` },
            { name: 'type', valueCode: 'event-notification' },
          ],
        },
      },
    ],
  };
}

function setup(existing: fhir4.Subscription[] = []) {
  const server = fakeApi(existing);
  const sockets: FakeSocket[] = [];
  const changes: LiveKind[] = [];
  const connected: boolean[] = [];
  const timers = manualTimers();
  const live = new LiveUpdates(server.api, {
    onChange: (kind) => changes.push(kind),
    onConnected: (up) => connected.push(up),
    open: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    initialDelayMs: 1000,
    maxDelayMs: 4000,
    setTimer: timers.setTimer,
    clearTimer: timers.clearTimer,
  });
  return { ...server, sockets, changes, connected, timers, live };
}

describe('LiveUpdates', () => {
  it('subscribes to each followed topic, binds them on one socket and maps events to kinds', async () => {
    const { live, calls, sockets, changes, connected, subscriptions } = setup();
    live.start();
    await settle();
    expect(subscriptions.map((s) => s.criteria)).toEqual(Object.keys(LIVE_TOPICS).map((t) => `${TOPIC_BASE}${t}`));
    expect(subscriptions.every((s) => s.channel.type === 'websocket')).toBe(true);
    expect(sockets).toHaveLength(1);
    expect(sockets[0].url).toBe('ws://server/fhir/R4/$subscription-ws');
    sockets[0].open();
    expect(sockets[0].sent).toEqual([...subscriptions.map((s, i) => `bind-with-token t${i + 1}-${s.id}`), 'watch-notifications']);
    expect(connected).toEqual([true]);
    // A handshake and a heartbeat change nothing; events and notices do.
    sockets[0].receive({ ...eventNotification('document-reference'), entry: [{ resource: { resourceType: 'Parameters', parameter: [{ name: 'type', valueCode: 'handshake' }] } }] });
    sockets[0].receive(eventNotification('document-reference'));
    sockets[0].receive(eventNotification('diagnostic-report'));
    sockets[0].receive({ resourceType: 'Parameters', parameter: [{ name: 'event', valueCode: 'notifications-changed' }, { name: 'unread', valueUnsignedInt: 2 }] });
    expect(changes).toEqual(['documents', 'results', 'notifications']);
    expect(calls.filter((c) => c.startsWith('POST'))).toHaveLength(3);
  });

  it('reuses the user’s own subscriptions from an earlier visit', async () => {
    const earlier = Object.keys(LIVE_TOPICS).map(
      (topic, i) =>
        ({
          resourceType: 'Subscription',
          id: `old${i}`,
          status: 'active',
          reason: 'earlier',
          criteria: `${TOPIC_BASE}${topic}`,
          channel: { type: 'websocket' },
        }) as fhir4.Subscription,
    );
    const { live, calls, sockets } = setup(earlier);
    live.start();
    await settle();
    expect(calls.filter((c) => c.startsWith('POST'))).toEqual([]);
    sockets[0].open();
    expect(sockets[0].sent[0]).toBe('bind-with-token t1-old0');
  });

  it('reconnects with backoff and fresh tokens, and reads everything again after a reconnect', async () => {
    const { live, sockets, changes, connected, timers } = setup();
    live.start();
    await settle();
    sockets[0].open();
    sockets[0].drop();
    expect(connected).toEqual([true, false]);
    expect(timers.fire()).toBe(1000);
    await settle();
    // The next attempt fails before it opens: the wait doubles, up to the maximum.
    sockets[1].drop();
    expect(timers.fire()).toBe(2000);
    await settle();
    sockets[2].drop();
    expect(timers.fire()).toBe(4000);
    await settle();
    sockets[3].drop();
    expect(timers.fire()).toBe(4000);
    await settle();
    sockets[4].open();
    expect(sockets[4].sent[0]).toMatch(/^bind-with-token t\d+-s1$/);
    expect(sockets[4].sent[0]).not.toBe(sockets[0].sent[0]);
    expect(new Set(changes)).toEqual(new Set(['documents', 'results', 'consents', 'notifications']));
    expect(connected.at(-1)).toBe(true);
    // A successful connection resets the backoff.
    sockets[4].drop();
    expect(timers.fire()).toBe(1000);
  });

  it('closes and reconnects when the server refuses a token', async () => {
    const { live, sockets, timers } = setup();
    live.start();
    await settle();
    sockets[0].open();
    sockets[0].receive({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'security' }] });
    expect(sockets[0].closed).toBe(true);
    expect(timers.pending).toHaveLength(1);
  });

  it('on stop closes the socket, deletes its subscriptions and does not reconnect', async () => {
    const { live, sockets, subscriptions, timers, calls } = setup();
    live.start();
    await settle();
    sockets[0].open();
    await live.stop();
    expect(sockets[0].closed).toBe(true);
    expect(subscriptions).toEqual([]);
    expect(calls.filter((c) => c.startsWith('DELETE'))).toHaveLength(3);
    expect(timers.pending).toEqual([]);
  });

  it('reads frames: unknown or malformed ones mean nothing', () => {
    expect(readFrame('not json')).toBeUndefined();
    expect(readFrame(JSON.stringify(eventNotification('medication-request')))).toBeUndefined();
    expect(readFrame(JSON.stringify(eventNotification('observation')))).toBeUndefined();
    expect(readFrame(JSON.stringify(eventNotification('diagnostic-report')))).toBe('results');
    expect(readFrame(JSON.stringify(eventNotification('consent')))).toBe('consents');
    expect(readFrame(JSON.stringify({ resourceType: 'Parameters', parameter: [] }))).toBeUndefined();
  });
});
