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
import { SearchPage } from './SearchPage';
import { ConsentsPage } from './ConsentsPage';
import { PhysicianTools } from './Shortcuts';
import { useT } from '../i18n/I18nProvider';

const NAV: NavItem[] = [
  { to: '/', label: 'nav.dashboard', end: true },
  { to: '/patients', label: 'nav.patients' },
  { to: '/search', label: 'nav.search' },
  { to: '/consents', label: 'nav.consents' },
  { to: '/interactions', label: 'nav.interactions' },
  { to: '/security', label: 'nav.security' },
  { to: '/settings', label: 'nav.settings' },
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
      <Layout portal="portal.physician" nav={NAV} tools={<PhysicianTools />}>
        {totp ? <RequireTotp>{children}</RequireTotp> : children}
      </Layout>
    </RequireUser>
  );
}

export function PhysicianApp() {
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  const t = useT();
  return (
    <Routes>
      <Route
        path="/login"
        element={
          <LoginPage
            title={t('login.physician')}
            role="physician"
            afterLogin={(user) => (user.totp_enabled ? (from && from !== '/login' ? from : '/') : '/security')}
          />
        }
      />
      <Route path="/" element={<Frame><DashboardPage /></Frame>} />
      <Route path="/patients" element={<Frame><PatientsPage /></Frame>} />
      <Route path="/patients/:id" element={<Frame><PatientDetailPage /></Frame>} />
      <Route path="/search" element={<Frame><SearchPage /></Frame>} />
      <Route path="/consents" element={<Frame><ConsentsPage /></Frame>} />
      <Route path="/interactions" element={<Frame><InteractionsPage /></Frame>} />
      <Route path="/security" element={<Frame totp={false}><SecurityPage mandatory continueTo="/" /></Frame>} />
      <Route path="/settings" element={<Frame totp={false}><SettingsPage /></Frame>} />
      <Route path="/notifications" element={<Frame totp={false}><NotificationsPage portal="physician" /></Frame>} />
      <Route path="*" element={<Frame><NotFound /></Frame>} />
    </Routes>
  );
}

function NotFound() {
  const t = useT();
  return (
    <div className="card">
      <h1>{t('notFound.title')}</h1>
      <p>
        {t('notFound.text')} <a href="/">{t('notFound.physicianBack')}</a>
      </p>
    </div>
  );
}
