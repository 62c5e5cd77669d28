// Entry point of the patient portal (served at `/patient/`).

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter } from 'react-router-dom';
import { SessionProvider } from '../ui/session';
import { I18nProvider } from '../i18n/I18nProvider';
import { PatientApp } from './App';
import { SmartRoot, isSmartPath } from '../smart/SmartApp';
import '../ui/styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      retry: (count, error) => count < 1 && !(error instanceof Error && 'status' in error && (error as { status: number }).status < 500),
      refetchOnWindowFocus: false,
    },
  },
});

const root = createRoot(document.getElementById('root')!);
// A SMART app's authorization (`/smart/authorize`) has its own pages.
if (isSmartPath(window.location.pathname)) root.render(<SmartRoot />);
else root.render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter basename="/patient">
        <SessionProvider storageKey="medilink.patient.session" liveUpdates>
          <I18nProvider>
            <PatientApp />
          </I18nProvider>
        </SessionProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
