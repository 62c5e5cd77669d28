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

const NAV: NavItem[] = [
  { to: '/', label: 'Summary', end: true },
  { to: '/records', label: 'Records' },
  { to: '/medications', label: 'Medications' },
  { to: '/labs', label: 'Lab results' },
  { to: '/allergies', label: 'Allergies' },
  { to: '/immunizations', label: 'Immunizations' },
  { to: '/consents', label: 'Sharing' },
  { to: '/access-log', label: 'Access log' },
  { to: '/security', label: 'Security' },
  { to: '/settings', label: 'Settings' },
];

function Frame({ children }: { children: ReactNode }) {
  return (
    <RequireUser role="patient">
      <Layout portal="Patient" nav={NAV}>
        {children}
      </Layout>
    </RequireUser>
  );
}

export function PatientApp() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage title="Patient sign-in" role="patient" afterLogin={() => '/'} registerLink />} />
      <Route path="/register" element={<RegisterPage />} />
      <Route path="/" element={<Frame><SummaryPage /></Frame>} />
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
              <h1>Page not found</h1>
              <p>
                This page does not exist. <a href="/patient/">Back to your summary</a>.
              </p>
            </div>
          </Frame>
        }
      />
    </Routes>
  );
}
