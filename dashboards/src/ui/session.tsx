// The session of a portal: the API client, the signed-in user, sign-in and sign-out, and the
// live updates of a patient's or physician's data over the FHIR websocket (`../fhir/live.ts`):
// each change invalidates the queries that show it; sign-out closes the socket and deletes the
// subscriptions first (it needs the session's token).

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { ApiClient, sessionTokenStore } from '../api/client';
import type { UserView } from '../api/types';
import { LiveUpdates, type LiveKind } from '../fhir/live';

/** Roles whose portals follow their data live. */
const LIVE_ROLES = ['patient', 'physician'];

/**
 * A document job's `DocumentReference` changes while the job runs, a moment before the queue
 * records the job's end: the job list is read again once more after this long.
 */
export const DOCUMENTS_RECHECK_MS = 2000;

/** What each kind of change invalidates. */
function invalidate(queryClient: QueryClient, kind: LiveKind) {
  const keys: Record<LiveKind, string[][]> = {
    documents: [['documents'], ['fhir']],
    results: [['fhir'], ['clinical']],
    notifications: [['notifications']],
    consents: [['consents'], ['fhir']],
  };
  for (const queryKey of keys[kind]) void queryClient.invalidateQueries({ queryKey });
  if (kind === 'documents') {
    setTimeout(() => void queryClient.invalidateQueries({ queryKey: ['documents'] }), DOCUMENTS_RECHECK_MS);
  }
}

export interface Session {
  client: ApiClient;
  /** The signed-in user (`undefined` while loading, `null` when signed out). */
  user: UserView | null | undefined;
  /** Call after the client stored new tokens. */
  signedIn: () => Promise<UserView | null>;
  signOut: () => Promise<void>;
  /** Whether live updates are flowing (the pages poll slowly while they are not). */
  live: boolean;
}

const SessionContext = createContext<Session | null>(null);

/** `liveUpdates`: follow the user's data over the websocket (the portals; not the SMART pages or tests). */
export function SessionProvider({
  storageKey,
  liveUpdates = false,
  children,
}: {
  storageKey: string;
  liveUpdates?: boolean;
  children: ReactNode;
}) {
  const queryClient = useQueryClient();
  const [epoch, setEpoch] = useState(0);
  const client = useMemo(
    () =>
      new ApiClient({
        store: sessionTokenStore(storageKey),
        onSignedOut: () => {
          queryClient.clear();
          setEpoch((n) => n + 1);
        },
      }),
    [storageKey, queryClient],
  );
  const me = useQuery({
    queryKey: ['me', epoch],
    queryFn: async () => (client.signedIn ? client.me() : null),
    retry: false,
    staleTime: 60_000,
  });
  const signedIn = useCallback(async () => {
    queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'me' });
    setEpoch((n) => n + 1);
    return client.signedIn ? client.me() : null;
  }, [client, queryClient]);
  const signOut = useCallback(async () => {
    try {
      await client.logout();
    } catch {
      // Signed out locally either way.
    }
    queryClient.clear();
    setEpoch((n) => n + 1);
  }, [client, queryClient]);
  const user = me.isError ? null : me.data;
  const [live, setLive] = useState(false);
  const liveRef = useRef<LiveUpdates | null>(null);
  const liveRole = liveUpdates && user && LIVE_ROLES.includes(user.role) ? user.id : null;
  useEffect(() => {
    if (!liveRole || typeof WebSocket === 'undefined') return;
    const updates = new LiveUpdates(client, {
      onChange: (kind) => invalidate(queryClient, kind),
      onConnected: setLive,
    });
    liveRef.current = updates;
    updates.start();
    return () => {
      liveRef.current = null;
      setLive(false);
      void updates.stop();
    };
  }, [client, queryClient, liveRole]);
  const signOutLive = useCallback(async () => {
    const updates = liveRef.current;
    liveRef.current = null;
    // Before the tokens go: deleting the subscriptions needs them.
    await updates?.stop();
    await signOut();
  }, [signOut]);
  const value = useMemo(
    () => ({ client, user, signedIn, signOut: signOutLive, live }),
    [client, user, signedIn, signOutLive, live],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

export function useClient(): ApiClient {
  return useSession().client;
}

/** Whether live updates are flowing (`false` outside a session). */
export function useLive(): boolean {
  return useContext(SessionContext)?.live ?? false;
}
