// Routes of the patient portal (under `/patient/`).

import type { ReactNode } from 'react';
import { Route, Routes } from 'react-router-dom';
import { Layout, RequireUser, type NavItem } from '../ui/Layout';
import { LoginPage } from '../ui/LoginPage';
import { SecurityPage } from '../ui/SecurityPage';
import { SettingsPage } from '../ui/SettingsPage';
import { NotificationsPage } from '../ui/notifications';
import { RegisterPage } from './RegisterPage';
import { SummaryPage } from './SummaryPage';
import { AllergiesPage, ImmunizationsPage, LabsPage, MedicationsPage, RecordsPage } from './RecordPages';
import { ConsentsPage } from './ConsentsPage';
import { AccessLogPage } from './AccessLogPage';
import { DocumentsPage } from './DocumentsPage';
import { TimelinePage } from './TimelinePage';
import { useT } from '../i18n/I18nProvider';

const NAV: NavItem[] = [
  { to: '/', label: 'nav.summary', end: true },
  { to: '/timeline', label: 'nav.timeline' },
  { to: '/records', label: 'nav.records' },
  { to: '/medications', label: 'nav.medications' },
  { to: '/labs', label: 'nav.labs' },
  { to: '/allergies', label: 'nav.allergies' },
  { to: '/immunizations', label: 'nav.immunizations' },
  { to: '/documents', label: 'nav.documents' },
  { to: '/consents', label: 'nav.sharing' },
  { to: '/access-log', label: 'nav.accessLog' },
  { to: '/security', label: 'nav.security' },
  { to: '/settings', label: 'nav.settings' },
];

function Frame({ children }: { children: ReactNode }) {
  return (
    <RequireUser role="patient">
      <Layout portal="portal.patient" nav={NAV}>
        {children}
      </Layout>
    </RequireUser>
  );
}

export function PatientApp() {
  const t = useT();
  return (
    <Routes>
      <Route path="/login" element={<LoginPage title={t('login.patient')} role="patient" afterLogin={() => '/'} registerLink />} />
      <Route path="/register" element={<RegisterPage />} />
      <Route path="/" element={<Frame><SummaryPage /></Frame>} />
      <Route path="/timeline" element={<Frame><TimelinePage /></Frame>} />
      <Route path="/documents" element={<Frame><DocumentsPage /></Frame>} />
      <Route path="/records" element={<Frame><RecordsPage /></Frame>} />
      <Route path="/medications" element={<Frame><MedicationsPage /></Frame>} />
      <Route path="/labs" element={<Frame><LabsPage /></Frame>} />
      <Route path="/allergies" element={<Frame><AllergiesPage /></Frame>} />
      <Route path="/immunizations" element={<Frame><ImmunizationsPage /></Frame>} />
      <Route path="/consents" element={<Frame><ConsentsPage /></Frame>} />
      <Route path="/access-log" element={<Frame><AccessLogPage /></Frame>} />
      <Route path="/security" element={<Frame><SecurityPage mandatory={false} continueTo="/" /></Frame>} />
      <Route path="/settings" element={<Frame><SettingsPage /></Frame>} />
      <Route path="/notifications" element={<Frame><NotificationsPage portal="patient" /></Frame>} />
      <Route
        path="*"
        element={
          <Frame>
            <div className="card">
              <h1>{t('notFound.title')}</h1>
              <p>
                {t('notFound.text')} <a href="/patient/">{t('notFound.patientBack')}</a>
              </p>
            </div>
          </Frame>
        }
      />
    </Routes>
  );
}
