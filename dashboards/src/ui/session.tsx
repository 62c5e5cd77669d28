// The session of a portal: the API client, the signed-in user, sign-in and sign-out.

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiClient, sessionTokenStore } from '../api/client';
import type { UserView } from '../api/types';

export interface Session {
  client: ApiClient;
  /** The signed-in user (`undefined` while loading, `null` when signed out). */
  user: UserView | null | undefined;
  /** Call after the client stored new tokens. */
  signedIn: () => Promise<UserView | null>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ storageKey, children }: { storageKey: string; children: ReactNode }) {
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
  const value = useMemo(() => ({ client, user, signedIn, signOut }), [client, user, signedIn, signOut]);
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
