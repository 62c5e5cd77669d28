// End-to-end test of the admin and research sections (issue #15) in headless Chromium against
// the server scripts/e2e.sh started, seeded (an admin with `user add --role admin`) and ran
// e2e/run.mjs against first (its physician broke the glass, so the audit log has break-glass
// records). Each step prints a line; screenshots go to e2e/screenshots/admin-*.png and
// research-*.png. Exit status 1 on the first failure (with a screenshot of that page).
//
// Story: a physician registers (pending); the admin signs in, enrols TOTP and lands on the
// admin home, signs in again and lands there directly; sees the pending physician and approves
// them; searches the users table and opens an account; tries to make themself a researcher and
// is refused (the last admin); filters the audit log to break-glass records; verifies the hash
// chain; reviews the break-glass accesses; sees health and statistics; rebuilds the search index
// and watches the progress bar reach done; invites a researcher. The invitee opens the link,
// sets a name and password, signs in and lands on the research page; a used or unknown link
// says so; the researcher is refused an export with a short purpose, starts one with a purpose
// and k, watches it complete, downloads a file (NDJSON, one resource a line) and the manifest.
// The approved physician sees no admin link and the API refuses them the admin endpoints.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, startBrowser } from './harness.mjs';
import { totp } from './totp.mjs';

const base = process.env.MEDILINK_URL;
if (!base) {
  console.error('MEDILINK_URL is not set (run scripts/e2e.sh)');
  process.exit(2);
}
const admin = {
  email: process.env.E2E_ADMIN_EMAIL ?? 'admin@e2e.test',
  password: process.env.E2E_ADMIN_PASSWORD ?? '',
  name: process.env.E2E_ADMIN_NAME ?? 'Alan Admin-E2E',
};
const stamp = Date.now();
const newcomer = { name: 'Dr. Barbara Liskov-E2E', email: `liskov.${stamp}@e2e.test`, password: 'substitution principle 1987 x' };
const researcher = { name: 'Rosalind Franklin-E2E', email: `franklin.${stamp}@e2e.test`, password: 'photograph fifty one helix' };
const purpose = 'Prevalence of chronic conditions by age band (e2e)';
const screenshots = join(import.meta.dirname, 'screenshots');
mkdirSync(screenshots, { recursive: true });
const timeout = 20_000;

const { context, results, consoleErrors, run, newPage, shutdown, watch, shot } = await startBrowser({
  name: 'admin',
  screenshots,
  failureShot: 'admin-failure',
  timeout,
  options: { acceptDownloads: true },
});

const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const navTargets = (page) => page.getByRole('navigation', { name: 'Main' }).getByRole('link').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
const tokenOf = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('medilink.physician.session') ?? 'null')?.access_token);

async function api(method, path, { token, json } = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function signIn(page, email, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

let secret = '';
let invitationUrl = '';
const adm = await newPage();
const inv = await newPage();

await run('a physician registers and waits for approval', async () => {
  const registered = await api('POST', '/api/auth/register', { json: { ...newcomer, role: 'physician' } });
  expect(registered.status === 201 || registered.status === 200, `register: ${registered.status} ${JSON.stringify(registered.body)}`);
  expect(registered.body.status === 'pending', `a new physician is ${registered.body.status}`);
});

await run('admin signs in, enrols TOTP and lands on the admin home', async () => {
  watch(adm);
  await signIn(adm, admin.email, admin.password);
  await adm.waitForURL('**/security');
  await adm.getByRole('button', { name: 'Start setup' }).click();
  secret = (await adm.getByTestId('totp-secret').textContent()).replace(/\s/g, '');
  await adm.getByLabel('Enter the 6-digit code it shows').fill(totp(secret));
  await adm.getByRole('button', { name: 'Turn on' }).click();
  await adm.getByRole('button', { name: /I have saved them/ }).click();
  await adm.waitForURL((url) => url.pathname === '/admin');
  await adm.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
  const targets = await navTargets(adm);
  for (const to of ['/admin', '/admin/users', '/admin/invitations', '/admin/audit', '/admin/break-glass', '/admin/system']) {
    expect(targets.includes(to), `the admin navigation lacks ${to}: ${targets.join(' ')}`);
  }
  expect(!targets.includes('/patients'), 'the admin navigation shows physician pages');
});

await run('admin signs in again (TOTP) and lands on the admin home directly', async () => {
  watch(adm);
  await adm.getByRole('button', { name: 'Sign out' }).click();
  await adm.waitForURL('**/login');
  await adm.getByLabel('E-mail').fill(admin.email);
  await adm.getByLabel('Password').fill(admin.password);
  await adm.getByRole('button', { name: 'Sign in' }).click();
  await adm.getByLabel('Authentication code').fill(totp(secret, Date.now() + 30_000));
  await adm.getByRole('button', { name: 'Verify' }).click();
  await adm.waitForURL((url) => url.pathname === '/admin');
  await adm.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
});

await run('admin sees health, statistics with charts, and the pending physician; approves them', async () => {
  watch(adm);
  await adm.getByTestId('health-summary').waitFor();
  const resources = adm.getByRole('img', { name: /^Resources by type: / });
  await resources.waitFor();
  const label = (await resources.locator('title').textContent()) ?? '';
  expect(/Observation \d+/.test(label), `the resources chart names no Observation count: ${label}`);
  const stats = await api('GET', '/api/admin/stats', { token: await tokenOf(adm) });
  expect(stats.status === 200 && stats.body.patients > 0, `GET /api/admin/stats: ${stats.status}, patients ${stats.body?.patients}`);
  const tile = adm.getByRole('list', { name: 'Key figures' }).getByRole('listitem').filter({ hasText: /^[\d,]+Patients$/ });
  expect((await tile.textContent()).replace(/\D/g, '') === String(stats.body.patients), `the Patients tile says ${await tile.textContent()}`);
  await adm.getByRole('img', { name: /^Users by role: .*admin 1/ }).waitFor();
  const pending = adm.getByRole('list', { name: 'Physicians waiting for approval' });
  await pending.getByText(newcomer.name).waitFor();
  await shot(adm, 'admin-overview');
  await pending.getByRole('button', { name: `Approve ${newcomer.name}` }).click();
  await adm.getByRole('status').filter({ hasText: `${newcomer.name} approved.` }).waitFor();
  await adm.getByText('No physician is waiting for approval.').waitFor();
});

await run('admin searches the users table and opens an account', async () => {
  watch(adm);
  await nav(adm, 'Users').click();
  await adm.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  await adm.getByLabel('Name or e-mail').fill('liskov');
  await adm.getByRole('button', { name: 'Search', exact: true }).click();
  await adm.waitForURL('**/admin/users?q=liskov');
  await adm.getByTestId('user-count').filter({ hasText: /^1 account$/ }).waitFor();
  const table = adm.locator('table.users-table');
  await table.getByRole('cell', { name: newcomer.email }).waitFor();
  expect((await table.locator('tbody tr').count()) === 1, 'the search "liskov" should find one account');
  const row = table.locator('tbody tr').first();
  expect((await row.textContent()).includes('active'), 'the approved physician is not active');
  await shot(adm, 'admin-users');
  await row.getByRole('link', { name: newcomer.name }).click();
  await adm.getByRole('heading', { name: newcomer.name, level: 1 }).waitFor();
  await adm.getByRole('heading', { name: 'Recent activity' }).waitFor();
  await adm.getByText('not locked').waitFor();
  await shot(adm, 'admin-user-detail');
});

await run('admin cannot demote the last admin: the server\'s 409 is shown', async () => {
  watch(adm);
  await adm.goto(`${base}/admin/users?q=${encodeURIComponent(admin.email)}`);
  const row = adm.locator('table.users-table tbody tr').filter({ hasText: admin.email });
  await row.waitFor();
  await row.getByLabel(`New role of ${admin.name}`, { exact: true }).selectOption('researcher');
  await row.getByRole('button', { name: `Apply the new role of ${admin.name}` }).click();
  const alert = row.getByRole('alert');
  await alert.waitFor();
  const text = await alert.textContent();
  expect(/last admin/i.test(text), `the refusal says: ${text}`);
  await shot(adm, 'admin-last-admin-refused');
  const me = await api('GET', '/api/auth/me', { token: await tokenOf(adm) });
  expect(me.body.role === 'admin', `the admin became ${me.body.role}`);
});

await run('admin filters the audit log to break-glass records', async () => {
  watch(adm);
  await nav(adm, 'Audit log').click();
  await adm.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  await adm.getByTestId('audit-count').waitFor();
  await adm.getByLabel('Break-glass only').check();
  await adm.getByRole('button', { name: 'Apply filters' }).click();
  await adm.waitForURL('**/admin/audit?break_glass=true');
  const direct = await api('GET', '/api/admin/audit?break_glass=true&limit=50', { token: await tokenOf(adm) });
  expect(direct.status === 200, `GET /api/admin/audit?break_glass=true: ${direct.status}`);
  const n = direct.body.records.length;
  expect(n > 0, 'the audit log has no break-glass record (run.mjs breaks the glass before this story)');
  await adm.getByTestId('audit-count').filter({ hasText: new RegExp(`^${n} records? shown`) }).waitFor();
  const rows = adm.locator('table.audit-table tbody tr');
  expect((await rows.count()) === n, `the page shows ${await rows.count()} rows, the API has ${n}`);
  expect((await rows.evaluateAll((trs) => trs.filter((tr) => tr.classList.contains('row-alert')).length)) === n, 'break-glass rows are not highlighted');
  expect((await rows.getByRole('cell', { name: 'break-glass', exact: true }).count()) === n, 'a row of the filtered log is not a break-glass record');
  const all = await api('GET', '/api/admin/audit?limit=50', { token: await tokenOf(adm) });
  expect(all.body.records.length > n, 'the break-glass filter did not narrow the log');
  await shot(adm, 'admin-audit-break-glass');
});

await run('admin verifies the audit chain and sees its status', async () => {
  watch(adm);
  await adm.getByRole('button', { name: 'Verify the chain now' }).click();
  await adm.getByTestId('chain-status').filter({ hasText: 'Chain intact' }).waitFor();
  const text = await adm.getByTestId('chain-status').textContent();
  expect(/Intact: [\d,]+ records? verified/.test(text), `chain status: ${text}`);
  await shot(adm, 'admin-audit-chain');
});

await run('admin reviews the break-glass accesses', async () => {
  watch(adm);
  await nav(adm, 'Break-glass').click();
  await adm.getByRole('heading', { name: 'Break-glass review', level: 1 }).waitFor();
  await adm.getByRole('link', { name: 'Audit records' }).first().waitFor();
  await shot(adm, 'admin-break-glass');
});

await run('admin sees the system health and rebuilds the search index (progress bar to done)', async () => {
  watch(adm);
  await nav(adm, 'System').click();
  await adm.getByRole('heading', { name: 'System', level: 1 }).waitFor();
  await adm.getByTestId('health-status').waitFor();
  await adm.locator('table.health-table').getByRole('rowheader', { name: 'database' }).waitFor();
  await adm.getByRole('img', { name: /^database latency: / }).waitFor();
  await adm.getByRole('button', { name: 'Rebuild the search index' }).click();
  const bar = adm.getByRole('progressbar', { name: 'Reindexing' });
  await bar.waitFor();
  await adm.getByRole('status').filter({ hasText: 'Reindex complete' }).waitFor({ timeout: 60_000 });
  expect((await bar.getAttribute('aria-valuenow')) === '100', `the bar ends at ${await bar.getAttribute('aria-valuenow')}`);
  expect((await adm.getByTestId('progress-text').textContent()).startsWith('Done'), 'the bar does not say Done');
  await shot(adm, 'admin-system-reindexed');
});

await run('admin invites a researcher: the link is shown once', async () => {
  watch(adm);
  await nav(adm, 'Invitations').click();
  await adm.getByRole('heading', { name: 'Researcher invitations', level: 1 }).waitFor();
  await adm.getByLabel('E-mail of the researcher').fill(researcher.email);
  await adm.getByRole('button', { name: 'Create invitation' }).click();
  invitationUrl = await adm.getByLabel('Invitation link').inputValue();
  expect(invitationUrl.includes('/invite/'), `the invitation link is ${invitationUrl}`);
  const row = adm.locator('tbody tr').filter({ hasText: researcher.email });
  await row.getByText('pending', { exact: true }).waitFor();
  await shot(adm, 'admin-invitation-created');
  await adm.getByRole('button', { name: 'Done' }).click();
  expect((await adm.getByLabel('Invitation link').count()) === 0, 'the link is still shown');
});

await run('the invitee sets a name and password, signs in and lands on the research page', async () => {
  watch(inv);
  // The link names the server's configured base; the test server is this one.
  const path = new URL(invitationUrl).pathname;
  await inv.goto(`${base}${path}`);
  await inv.getByRole('heading', { name: 'Join MediLink as a researcher' }).waitFor();
  await inv.getByLabel('Your name').fill(researcher.name);
  await inv.getByLabel('Password', { exact: true }).fill(researcher.password);
  await inv.getByLabel('Repeat the password').fill(researcher.password);
  await shot(inv, 'research-invitation');
  await inv.getByRole('button', { name: 'Create my account' }).click();
  await inv.waitForURL('**/login');
  await inv.getByRole('status').filter({ hasText: 'Your researcher account is ready' }).waitFor();
  expect((await inv.getByLabel('E-mail').inputValue()) === researcher.email, 'the e-mail is not filled in');
  await inv.getByLabel('Password').fill(researcher.password);
  await inv.getByRole('button', { name: 'Sign in' }).click();
  await inv.waitForURL((url) => url.pathname === '/research');
  await inv.getByRole('heading', { name: 'Research exports', level: 1 }).waitFor();
  const targets = await navTargets(inv);
  expect(!targets.some((to) => to.startsWith('/admin') || to === '/patients'), `the researcher navigation: ${targets.join(' ')}`);
});

await run('a used invitation link (410) and an unknown one (404) say so', async () => {
  watch(inv);
  const other = await newPage();
  watch(other);
  await other.goto(`${base}${new URL(invitationUrl).pathname}`);
  await other.getByLabel('Your name').fill('Someone Else');
  await other.getByLabel('Password', { exact: true }).fill(researcher.password);
  await other.getByLabel('Repeat the password').fill(researcher.password);
  await other.getByRole('button', { name: 'Create my account' }).click();
  await other.getByRole('alert').filter({ hasText: 'already accepted, revoked or has expired' }).waitFor();
  await shot(other, 'research-invitation-used');
  await other.goto(`${base}/invite/not-a-real-token-${stamp}`);
  await other.getByLabel('Your name').fill('Someone Else');
  await other.getByLabel('Password', { exact: true }).fill(researcher.password);
  await other.getByLabel('Repeat the password').fill(researcher.password);
  await other.getByRole('button', { name: 'Create my account' }).click();
  await other.getByRole('alert').filter({ hasText: 'This invitation link is not valid' }).waitFor();
  await other.close();
  watch(inv);
});

let exportId = '';
await run('the researcher is told a purpose is too short, then starts an export with a purpose and k', async () => {
  watch(inv);
  await inv.getByLabel('Purpose').fill('for a study');
  await inv.getByLabel('k (smallest group size)').fill('2');
  await inv.getByRole('button', { name: 'Start export' }).click();
  await inv.getByText('Describe the purpose in at least 20 characters (11 so far).').waitFor();
  await shot(inv, 'research-form-invalid');
  await inv.getByLabel('Purpose').fill(purpose);
  await inv.getByRole('button', { name: 'Start export' }).click();
  await inv.waitForURL('**/research/exports/*');
  exportId = decodeURIComponent(new URL(inv.url()).pathname.split('/').pop());
  await inv.getByRole('progressbar', { name: 'Export progress' }).waitFor();
});

let firstFile = '';
await run('the researcher watches the export complete and downloads a file (NDJSON) and the manifest', async () => {
  watch(inv);
  await inv.getByTestId('export-status').filter({ hasText: 'completed' }).waitFor({ timeout: 120_000 });
  const bar = inv.getByRole('progressbar', { name: 'Export progress' });
  expect((await bar.getAttribute('aria-valuenow')) === '100', 'the export bar is not at 100%');
  await inv.getByText(purpose).waitFor();
  const buttons = inv.getByRole('button', { name: /^Download .+\.ndjson$/ });
  expect((await buttons.count()) > 0, 'the completed export lists no file');
  await shot(inv, 'research-export-completed');
  const [file] = await Promise.all([inv.waitForEvent('download'), buttons.first().click()]);
  firstFile = file.suggestedFilename();
  expect(firstFile.endsWith('.ndjson'), `the file is named ${firstFile}`);
  const lines = readFileSync(await file.path(), 'utf8').split('\n').filter((line) => line.trim());
  expect(lines.length > 0, `${firstFile} is empty`);
  const type = firstFile.replace(/\.ndjson$/, '');
  for (const line of lines) {
    const resource = JSON.parse(line);
    expect(resource.resourceType === type, `${firstFile} holds a ${resource.resourceType}`);
  }
  await inv.getByRole('status').filter({ hasText: `${firstFile} downloaded.` }).waitFor();
  const [manifest] = await Promise.all([inv.waitForEvent('download'), inv.getByRole('button', { name: 'Download the manifest' }).click()]);
  expect(manifest.suggestedFilename() === `manifest-${exportId}.json`, `the manifest is named ${manifest.suggestedFilename()}`);
  const body = JSON.parse(readFileSync(await manifest.path(), 'utf8'));
  expect(body.id === exportId && body.purpose === purpose && body.k === 2, `manifest: ${JSON.stringify(body).slice(0, 200)}`);
  expect(body.output.some((entry) => entry.url.endsWith(`/files/${firstFile}`)), 'the manifest does not list the downloaded file');
  await shot(inv, 'research-export-downloaded');
  await inv.getByRole('link', { name: 'All exports' }).click();
  await inv.getByRole('heading', { name: 'Research exports', level: 1 }).waitFor();
  await inv.getByRole('table').getByText('completed').first().waitFor();
  await shot(inv, 'research-exports');
});

await run('the approved physician sees no admin link and the API refuses them', async () => {
  const doc = await newPage();
  watch(doc);
  await signIn(doc, newcomer.email, newcomer.password);
  await doc.waitForURL('**/security');
  const targets = await navTargets(doc);
  expect(!targets.some((to) => to.startsWith('/admin') || to.startsWith('/research')), `the physician navigation: ${targets.join(' ')}`);
  await doc.goto(`${base}/admin/users`);
  await doc.waitForURL((url) => !url.pathname.startsWith('/admin'));
  const refused = await api('GET', '/api/admin/users', { token: await tokenOf(doc) });
  expect(refused.status === 403, `GET /api/admin/users as a physician: ${refused.status}`);
  await doc.close();
});

await run('deep links load the portal on a hard reload', async () => {
  watch(adm);
  await adm.goto(`${base}/admin/audit?break_glass=true`);
  await adm.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  expect(await adm.getByLabel('Break-glass only').isChecked(), 'the filter of the URL is not applied');
  await adm.goto(`${base}/admin/users/${encodeURIComponent((await api('GET', '/api/auth/me', { token: await tokenOf(adm) })).body.id)}`);
  await adm.getByRole('heading', { name: admin.name, level: 1 }).waitFor();
});

await run('admin reads the admin pages in Hindi and Spanish (stored with the preferences), then English again', async () => {
  watch(adm);
  // The navigation's own name is translated too.
  const anyNav = (page, name) => page.getByRole('navigation').first().getByRole('link', { name, exact: true });
  await adm.goto(`${base}/settings`);
  await adm.getByLabel('Language of the portal and of your notices').selectOption('hi');
  await anyNav(adm, 'अवलोकन').click();
  await adm.getByRole('heading', { name: 'प्रशासन', level: 1 }).waitFor();
  await adm.getByRole('heading', { name: 'आँकड़े' }).waitFor();
  await adm.getByRole('list', { name: 'मुख्य आँकड़े' }).waitFor();
  const drawn = await adm.evaluate(() => {
    const font = getComputedStyle(document.querySelector('h1')).font;
    const pixels = (text) => {
      const canvas = document.createElement('canvas');
      canvas.width = 200;
      canvas.height = 60;
      const context = canvas.getContext('2d');
      context.font = font;
      context.fillText(text, 4, 40);
      return Array.from(context.getImageData(0, 0, 200, 60).data).join(',');
    };
    // Different letters draw differently; with no Devanagari font both are the same boxes.
    return pixels('कमल') !== pixels('खगघ');
  });
  expect(drawn, 'Chromium draws Devanagari as empty boxes: install a Devanagari font (scripts/setup: fonts-noto-core)');
  await shot(adm, 'admin-overview-hi');
  await anyNav(adm, 'ऑडिट लॉग').click();
  await adm.getByRole('heading', { name: 'ऑडिट लॉग', level: 1 }).waitFor();
  await adm.getByTestId('audit-count').filter({ hasText: 'दिखाए गए' }).waitFor();
  await anyNav(adm, 'सेटिंग्स').click();
  await adm.getByLabel('पोर्टल और आपकी सूचनाओं की भाषा').selectOption('es');
  await anyNav(adm, 'Sistema').click();
  await adm.getByRole('heading', { name: 'Sistema', level: 1 }).waitFor();
  await adm.getByRole('button', { name: 'Reconstruir el índice de búsqueda' }).waitFor();
  await shot(adm, 'admin-system-es');
  await anyNav(adm, 'Ajustes').click();
  await adm.getByLabel('Idioma del portal y de tus avisos').selectOption('en');
  await anyNav(adm, 'Overview').waitFor();
});

await run('no uncaught errors in the browser', async () => {
  // 403/409/404/410: the refusals this story provokes on purpose.
  const unexpected = consoleErrors.filter((text) => !/status of (401|403|404|409|410)/.test(text));
  expect(unexpected.length === 0, `console errors: ${unexpected.join(' | ')}`);
});

await shutdown();
console.log(`e2e (admin and research): ${results.length} passed; screenshots in ${screenshots}`);
