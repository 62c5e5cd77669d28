// The staff portal's sections by role (issue #15): each role's navigation and start page, where
// a sign-in leads, and a page of another role's section sending a signed-in user home.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, screen, waitFor } from '@testing-library/react';
import { renderWithServer } from '../test-support';
import type { UserView } from '../api/types';
import { PhysicianApp, afterSignIn, belongsTo, homeOf, navOf } from './App';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.sessionStorage.clear();
});

const account = (role: UserView['role'], totp = true): UserView => ({ id: `u-${role}`, email: `${role}@example.org`, name: role, role, status: 'active', patient_id: null, totp_enabled: totp });

describe('sections by role', () => {
  it('give each role its own navigation: a physician never sees admin or research links', () => {
    const links = (role: string) => navOf(role).map((item) => item.to);
    expect(links('physician').some((to) => to.startsWith('/admin') || to.startsWith('/research'))).toBe(false);
    expect(links('admin')).toEqual(['/admin', '/admin/users', '/admin/invitations', '/admin/audit', '/admin/break-glass', '/admin/system', '/admin/smart', '/security', '/settings']);
    expect(links('researcher')).toEqual(['/research', '/security', '/settings']);
    expect(navOf('patient')).toEqual([]);
  });

  it('lead a sign-in to TOTP enrolment where mandatory, back where the user was, else home', () => {
    expect(homeOf('admin')).toBe('/admin');
    expect(homeOf('researcher')).toBe('/research');
    expect(homeOf('physician')).toBe('/');
    expect(afterSignIn(account('admin', false), '/admin/users')).toBe('/security');
    expect(afterSignIn(account('researcher', false), undefined)).toBe('/research');
    expect(afterSignIn(account('admin'), '/admin/audit?break_glass=true')).toBe('/admin/audit?break_glass=true');
    expect(afterSignIn(account('admin'), '/patients/p1')).toBe('/admin');
    expect(afterSignIn(account('physician'), '/admin')).toBe('/');
    expect(afterSignIn(account('researcher'), '/invite/tok')).toBe('/research');
    expect(belongsTo('/settings', 'researcher')).toBe(true);
    expect(belongsTo('/administrator', 'admin')).toBe(false);
  });
});

describe('PhysicianApp', () => {
  it('sends a physician who opens an admin page to the dashboard', async () => {
    renderWithServer(<PhysicianApp />, () => [200, { consents: [], jobs: [], notifications: [], unread: 0, next: null }], { me: account('physician'), path: '/admin/users' });
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/'));
    expect(screen.queryByRole('link', { name: 'Users' })).toBeNull();
  });

  it('sends an admin without TOTP to enrol first, and shows the admin navigation', async () => {
    renderWithServer(<PhysicianApp />, () => undefined, { me: account('admin', false), path: '/admin/users' });
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe('/security'));
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    expect([...nav.querySelectorAll('a')].map((a) => a.textContent)).toEqual(['Overview', 'Users', 'Invitations', 'Audit log', 'Break-glass', 'System', 'SMART apps', 'Security', 'Settings']);
  });

  it('shows the invitation page without a session', async () => {
    renderWithServer(<PhysicianApp />, () => undefined, { signedIn: false, path: '/invite/tok-1' });
    expect(await screen.findByRole('heading', { name: 'Join MediLink as a researcher' })).toBeTruthy();
  });
});
