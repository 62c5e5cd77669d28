// Routes of the staff portal at `/`: the physician pages, and (shown by role) the admin
// section (`/admin/…`) and the research section (`/research/…`), plus the public invitation
// page (`/invite/{token}`). Each role sees its own navigation only and lands on its own start
// page; a page of another role sends a signed-in user to theirs (and the API refuses anyway).

import type { ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { Layout, RequireUser, type NavItem } from '../ui/Layout';
import { LoginPage, type LoginState } from '../ui/LoginPage';
import { SecurityPage } from '../ui/SecurityPage';
import { SettingsPage } from '../ui/SettingsPage';
import { NotificationsPage } from '../ui/notifications';
import { useSession } from '../ui/session';
import type { Role } from '../api/types';
import { DashboardPage } from './DashboardPage';
import { PatientsPage } from './PatientsPage';
import { PatientDetailPage } from './PatientDetailPage';
import { InteractionsPage } from './InteractionsPage';
import { OverviewPage } from '../admin/OverviewPage';
import { UsersPage } from '../admin/UsersPage';
import { UserDetailPage } from '../admin/UserDetailPage';
import { InvitationsPage } from '../admin/InvitationsPage';
import { AuditPage } from '../admin/AuditPage';
import { BreakGlassPage } from '../admin/BreakGlassPage';
import { SystemPage } from '../admin/SystemPage';
import { ClientsPage } from '../smart/ClientsPage';
import { ResearchPage } from '../research/ResearchPage';
import { SearchPage } from './SearchPage';
import { ConsentsPage } from './ConsentsPage';
import { PhysicianTools } from './Shortcuts';
import { useT } from '../i18n/I18nProvider';
import { ExportPage } from '../research/ExportPage';
import { InvitePage } from '../research/InvitePage';

/** The roles this portal serves (patients have theirs at `/patient/`). */
export const STAFF_ROLES: readonly Role[] = ['physician', 'admin', 'researcher'];

const NAV: Record<string, NavItem[]> = {
  physician: [
    { to: '/', label: 'nav.dashboard', end: true },
    { to: '/patients', label: 'nav.patients' },
    { to: '/search', label: 'nav.search' },
    { to: '/consents', label: 'nav.consents' },
    { to: '/interactions', label: 'nav.interactions' },
    { to: '/security', label: 'nav.security' },
    { to: '/settings', label: 'nav.settings' },
  ],
  admin: [
    { to: '/admin', label: 'nav.admin.overview', end: true },
    { to: '/admin/users', label: 'nav.admin.users' },
    { to: '/admin/invitations', label: 'nav.admin.invitations' },
    { to: '/admin/audit', label: 'nav.admin.audit' },
    { to: '/admin/break-glass', label: 'nav.admin.breakGlass' },
    { to: '/admin/system', label: 'nav.admin.system' },
    { to: '/admin/smart', label: 'nav.admin.smart' },
    { to: '/security', label: 'nav.security' },
    { to: '/settings', label: 'nav.settings' },
  ],
  researcher: [
    { to: '/research', label: 'nav.research' },
    { to: '/security', label: 'nav.security' },
    { to: '/settings', label: 'nav.settings' },
  ],
};

const PORTAL_NAME: Record<string, string> = { physician: 'portal.physician', admin: 'portal.admin', researcher: 'portal.research' };

/** The start page of a role. */
export function homeOf(role: string): string {
  return role === 'admin' ? '/admin' : role === 'researcher' ? '/research' : '/';
}

/** Whether a role must use TOTP (the server refuses its data until then). */
export function totpMandatory(role: string): boolean {
  return role === 'physician' || role === 'admin';
}

/** The navigation of a role (a physician never sees admin links). */
export function navOf(role: string | undefined): NavItem[] {
  return NAV[role ?? ''] ?? [];
}

/** Where a user goes after signing in: TOTP enrolment first where mandatory, then back where they were, else their start page. */
export function afterSignIn(user: { role: string; totp_enabled: boolean }, from: string | undefined): string {
  if (totpMandatory(user.role) && !user.totp_enabled) return '/security';
  if (from && from !== '/login' && !from.startsWith('/invite/') && belongsTo(from, user.role)) return from;
  return homeOf(user.role);
}

/** Whether `path` is a page of `role`'s section (the shared pages belong to every role). */
export function belongsTo(path: string, role: string): boolean {
  const shared = ['/security', '/settings', '/notifications'].some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`));
  if (shared) return true;
  const section = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);
  if (section('/admin')) return role === 'admin';
  if (section('/research')) return role === 'researcher';
  return role === 'physician';
}

/** Pages that need TOTP enrolled first where it is mandatory. */
function RequireTotp({ children }: { children: ReactNode }) {
  const { user } = useSession();
  if (user && totpMandatory(user.role) && !user.totp_enabled) return <Navigate to="/security" replace />;
  return <>{children}</>;
}

function Frame({ children, roles, totp = true }: { children: ReactNode; roles: readonly Role[]; totp?: boolean }) {
  const { user } = useSession();
  return (
    <RequireUser role={roles} homeOf={homeOf}>
      <Layout
        portal={PORTAL_NAME[user?.role ?? ''] ?? 'portal.staff'}
        nav={navOf(user?.role)}
        tools={user?.role === 'physician' ? <PhysicianTools /> : undefined}
      >
        {totp ? <RequireTotp>{children}</RequireTotp> : children}
      </Layout>
    </RequireUser>
  );
}

function Security() {
  const { user } = useSession();
  const role = user?.role ?? 'physician';
  return <SecurityPage mandatory={totpMandatory(role)} continueTo={homeOf(role)} />;
}

const PHYSICIAN: readonly Role[] = ['physician'];
const ADMIN: readonly Role[] = ['admin'];
const RESEARCHER: readonly Role[] = ['researcher'];

export function PhysicianApp() {
  const location = useLocation();
  const from = (location.state as LoginState | null)?.from;
  const t = useT();
  return (
    <Routes>
      <Route
        path="/login"
        element={<LoginPage title={t('login.staff')} role={STAFF_ROLES} afterLogin={(user) => afterSignIn(user, from)} />}
      />
      <Route path="/invite/:token" element={<InvitePage />} />
      <Route path="/" element={<Frame roles={PHYSICIAN}><DashboardPage /></Frame>} />
      <Route path="/patients" element={<Frame roles={PHYSICIAN}><PatientsPage /></Frame>} />
      <Route path="/patients/:id" element={<Frame roles={PHYSICIAN}><PatientDetailPage /></Frame>} />
      <Route path="/search" element={<Frame roles={PHYSICIAN}><SearchPage /></Frame>} />
      <Route path="/consents" element={<Frame roles={PHYSICIAN}><ConsentsPage /></Frame>} />
      <Route path="/interactions" element={<Frame roles={PHYSICIAN}><InteractionsPage /></Frame>} />
      <Route path="/admin" element={<Frame roles={ADMIN}><OverviewPage /></Frame>} />
      <Route path="/admin/users" element={<Frame roles={ADMIN}><UsersPage /></Frame>} />
      <Route path="/admin/users/:id" element={<Frame roles={ADMIN}><UserDetailPage /></Frame>} />
      <Route path="/admin/invitations" element={<Frame roles={ADMIN}><InvitationsPage /></Frame>} />
      <Route path="/admin/audit" element={<Frame roles={ADMIN}><AuditPage /></Frame>} />
      <Route path="/admin/break-glass" element={<Frame roles={ADMIN}><BreakGlassPage /></Frame>} />
      <Route path="/admin/system" element={<Frame roles={ADMIN}><SystemPage /></Frame>} />
      <Route path="/admin/smart" element={<Frame roles={ADMIN}><ClientsPage /></Frame>} />
      <Route path="/research" element={<Frame roles={RESEARCHER}><ResearchPage /></Frame>} />
      <Route path="/research/exports/:id" element={<Frame roles={RESEARCHER}><ExportPage /></Frame>} />
      <Route path="/security" element={<Frame roles={STAFF_ROLES} totp={false}><Security /></Frame>} />
      <Route path="/settings" element={<Frame roles={STAFF_ROLES} totp={false}><SettingsPage /></Frame>} />
      <Route path="/notifications" element={<Frame roles={STAFF_ROLES} totp={false}><NotificationsPage portal="physician" /></Frame>} />
      <Route path="*" element={<Frame roles={STAFF_ROLES}><NotFound /></Frame>} />
    </Routes>
  );
}

function NotFound() {
  const { user } = useSession();
  const t = useT();
  return (
    <div className="card">
      <h1>{t('notFound.title')}</h1>
      <p>
        {t('notFound.text')} <a href={homeOf(user?.role ?? 'physician')}>{t('notFound.staffBack')}</a>
      </p>
    </div>
  );
}
