// The frame of a portal page: skip link, header with navigation and the user, main content.

import { useState, type ReactNode } from 'react';
import { NavLink, Navigate, useLocation } from 'react-router-dom';
import { useSession } from './session';
import { Loading, PageErrorBoundary } from './components';
import { NotificationBell } from './notifications';
import { useT } from '../i18n/I18nProvider';
import { isMessageKey } from '../i18n/core';

export interface NavItem {
  to: string;
  /** A message key (translated), or a text shown as it is. */
  label: string;
  end?: boolean;
}

export function Layout({ portal, nav, tools, children }: { portal: string; nav: NavItem[]; tools?: ReactNode; children: ReactNode }) {
  const { user, signOut } = useSession();
  const t = useT();
  const text = (label: string) => (isMessageKey(label) ? t(label) : label);
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        {t('layout.skip')}
      </a>
      <header className="app-header">
        <div className="brand">
          <span aria-hidden="true" className="brand-mark">
            ✚
          </span>{' '}
          MediLink <span className="brand-portal">{text(portal)}</span>
        </div>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((open) => !open)}
        >
          {t('layout.menu')}
        </button>
        <nav id="main-nav" aria-label={t('layout.mainNav')} className={menuOpen ? 'open' : ''}>
          <ul>
            {nav.map((item) => (
              <li key={item.to}>
                <NavLink to={item.to} end={item.end} onClick={() => setMenuOpen(false)}>
                  {text(item.label)}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        {user ? (
          <div className="user">
            {tools}
            <NotificationBell />
            <span className="user-name">{user.name || user.email}</span>
            <button type="button" className="link-button" onClick={() => void signOut()}>
              {t('layout.signOut')}
            </button>
          </div>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        <PageErrorBoundary resetKey={location.pathname}>{children}</PageErrorBoundary>
      </main>
    </div>
  );
}

/**
 * Children only for a signed-in user of `role` (or one of them); else the login page, or, with
 * `homeOf`, the start page of a signed-in user's own role (a physician opening an admin link).
 */
export function RequireUser({
  role,
  homeOf,
  children,
}: {
  role: string | readonly string[];
  homeOf?: (role: string) => string;
  children: ReactNode;
}) {
  const { user } = useSession();
  const location = useLocation();
  const t = useT();
  if (user === undefined) return <Loading label={t('layout.checkingSession')} />;
  const allowed = typeof role === 'string' ? user?.role === role : Boolean(user && role.includes(user.role));
  if (user && !allowed && homeOf) return <Navigate to={homeOf(user.role)} replace />;
  if (user === null || !allowed) {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}
