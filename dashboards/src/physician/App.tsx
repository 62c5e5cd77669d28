// Routes of the physician portal.

import type { ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { Layout, RequireUser, type NavItem } from '../ui/Layout';
import { LoginPage } from '../ui/LoginPage';
import { SecurityPage } from '../ui/SecurityPage';
import { SettingsPage } from '../ui/SettingsPage';
import { NotificationsPage } from '../ui/notifications';
import { useSession } from '../ui/session';
import { DashboardPage } from './DashboardPage';
import { PatientsPage } from './PatientsPage';
import { PatientDetailPage } from './PatientDetailPage';
import { InteractionsPage } from './InteractionsPage';

const NAV: NavItem[] = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/patients', label: 'Patients' },
  { to: '/interactions', label: 'Interaction checker' },
  { to: '/security', label: 'Security' },
  { to: '/settings', label: 'Settings' },
];

/** Clinical pages need TOTP enrolled first (the server refuses patient data until then). */
function RequireTotp({ children }: { children: ReactNode }) {
  const { user } = useSession();
  if (user && !user.totp_enabled) return <Navigate to="/security" replace />;
  return <>{children}</>;
}

function Frame({ children, totp = true }: { children: ReactNode; totp?: boolean }) {
  return (
    <RequireUser role="physician">
      <Layout portal="Physician" nav={NAV}>
        {totp ? <RequireTotp>{children}</RequireTotp> : children}
      </Layout>
    </RequireUser>
  );
}

export function PhysicianApp() {
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  return (
    <Routes>
      <Route
        path="/login"
        element={
          <LoginPage
            title="Physician sign-in"
            role="physician"
            afterLogin={(user) => (user.totp_enabled ? (from && from !== '/login' ? from : '/') : '/security')}
          />
        }
      />
      <Route path="/" element={<Frame><DashboardPage /></Frame>} />
      <Route path="/patients" element={<Frame><PatientsPage /></Frame>} />
      <Route path="/patients/:id" element={<Frame><PatientDetailPage /></Frame>} />
      <Route path="/interactions" element={<Frame><InteractionsPage /></Frame>} />
      <Route path="/security" element={<Frame totp={false}><SecurityPage mandatory continueTo="/" /></Frame>} />
      <Route path="/settings" element={<Frame totp={false}><SettingsPage /></Frame>} />
      <Route path="/notifications" element={<Frame totp={false}><NotificationsPage portal="physician" /></Frame>} />
      <Route path="*" element={<Frame><NotFound /></Frame>} />
    </Routes>
  );
}

function NotFound() {
  return (
    <div className="card">
      <h1>Page not found</h1>
      <p>
        This page does not exist. <a href="/">Back to the dashboard</a>.
      </p>
    </div>
  );
}
