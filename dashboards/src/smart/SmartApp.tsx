// The SMART authorization pages at `/smart/…` (whichever portal bundle the server serves
// there): the sign-in (TOTP included) of the patient or physician the app acts for, then
// the consent screen. Its own router and session: the tab a SMART app opened has no portal
// session unless it carried one over (then that one is used).

import { StrictMode } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { SessionProvider, useSession } from '../ui/session';
import { I18nProvider } from '../i18n/I18nProvider';
import { LoginPage, type LoginState } from '../ui/LoginPage';
import { Loading } from '../ui/components';
import type { Role } from '../api/types';
import { translate as t } from '../i18n/core';
import { ConsentPage } from './ConsentPage';

/** The roles that authorize apps. */
export const SMART_ROLES: readonly Role[] = ['patient', 'physician'];

/** Whether the browser is on a SMART page (the entry points render `SmartRoot` there). */
export function isSmartPath(pathname: string): boolean {
  return pathname === '/smart' || pathname.startsWith('/smart/');
}

/** The session to use: a portal's session this tab already holds, else the SMART pages' own. */
export function smartStorageKey(storage: Pick<Storage, 'getItem'> = window.sessionStorage): string {
  for (const key of ['medilink.patient.session', 'medilink.physician.session']) {
    if (storage.getItem(key)) return key;
  }
  return 'medilink.smart.session';
}

function RequireSignIn({ children }: { children: React.ReactNode }) {
  const { user } = useSession();
  const location = useLocation();
  if (user === undefined) return <Loading label={t('layout.checkingSession')} />;
  if (user === null || !SMART_ROLES.includes(user.role)) {
    const state: LoginState = { from: location.pathname + location.search };
    return <Navigate to="/smart/login" replace state={state} />;
  }
  return <>{children}</>;
}

/** The routes under `/smart/` (also rendered by tests inside their own router). */
export function SmartRoutes({ leave }: { leave?: (url: string) => void }) {
  const from = (useLocation().state as LoginState | null)?.from;
  return (
    <Routes>
      <Route
        path="/smart/login"
        element={<LoginPage title={t('smart.login')} role={SMART_ROLES} afterLogin={() => (from?.startsWith('/smart/') ? from : '/smart/authorize')} />}
      />
      <Route
        path="/smart/authorize"
        element={
          <RequireSignIn>
            <ConsentPage leave={leave} />
          </RequireSignIn>
        }
      />
      <Route path="*" element={<Navigate to="/smart/authorize" replace />} />
    </Routes>
  );
}

/** The whole SMART page tree, for an entry point. */
export function SmartRoot() {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });
  return (
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <SessionProvider storageKey={smartStorageKey()}>
            <I18nProvider>
              <main id="main" className="smart-main">
                <SmartRoutes />
              </main>
            </I18nProvider>
          </SessionProvider>
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>
  );
}
