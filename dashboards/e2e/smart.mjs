// Browser tests of SMART App Launch (issue #17) against the server scripts/e2e.sh started: a
// tiny local SMART app (smartapp.mjs) registers itself (`POST /oauth/register`), an admin
// approves it (`/api/admin/smart`), then in Chromium:
// - standalone launch: the app sends the browser to authorize → the SMART sign-in with TOTP
//   → the consent screen (axe-checked; one scope unticked) → the app's callback with a code →
//   the app exchanges it with PKCE and reads the patient, whose narrowed scope is enforced;
// - remembered decision: launching again with the scopes she approved skips the screen;
// - physician standalone launch: a picker of the consented patients; the token is the chosen's;
// - EHR launch: the physician's "Launch app" on a consented patient opens the app, which gets
//   that patient; the app's token reads nothing of a patient who did not consent, and a
//   launch for them is refused (no menu, and 404 from the API).
// It then registers and approves a second client for tools/smart/fhirclient_launch.py and
// writes what that script needs to $E2E_SMART_HANDOFF.
//
// Users of its own: an admin and a physician (E2E_SMART_ADMIN_*, E2E_SMART_PHYSICIAN_*, added
// by e2e.sh) who enrol TOTP here, and two patients registered through the API.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, startBrowser } from './harness.mjs';
import { totp } from './totp.mjs';
import { seedPatient } from './seed.mjs';
import { expectAccessible } from './axe.mjs';
import { startSmartApp } from './smartapp.mjs';

const base = process.env.MEDILINK_URL;
if (!base) {
  console.error('MEDILINK_URL is not set (run scripts/e2e.sh)');
  process.exit(2);
}
const fhirBase = `${base}/fhir/R4`;
const admin = { email: process.env.E2E_SMART_ADMIN_EMAIL ?? 'smart-admin@e2e.test', password: process.env.E2E_SMART_ADMIN_PASSWORD ?? '' };
const doctor = {
  email: process.env.E2E_SMART_PHYSICIAN_EMAIL ?? 'smart-doctor@e2e.test',
  password: process.env.E2E_SMART_PHYSICIAN_PASSWORD ?? '',
  name: process.env.E2E_SMART_PHYSICIAN_NAME ?? 'Dr. Smart Launch-E2E',
};
const stamp = Date.now();
const ada = { given: 'Ada', family: 'Smart-E2E', birth: '1980-02-03', gender: 'female', email: `ada.smart.${stamp}@e2e.test`, password: 'lattice orchard vapour 61' };
const bob = { given: 'Bob', family: 'Smart-E2E', birth: '1975-06-07', gender: 'male', email: `bob.smart.${stamp}@e2e.test`, password: 'granite puffin motor 29' };
const SCOPE = 'launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Condition.rs';
const screenshots = join(import.meta.dirname, 'screenshots');
const timeout = 20_000;

const { context, results, consoleErrors, run, newPage, shutdown, watch, shot } = await startBrowser({
  name: 'smart',
  screenshots,
  failureShot: 'smart-failure',
  timeout,
  options: { bypassCSP: true },
});

async function api(method, path, token, body, form) {
  const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}) };
  let payload;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form).toString();
  } else if (body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${base}${path}`, { method, headers, body: payload, redirect: 'manual' });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: response.status, json, headers: response.headers };
}

/** The last TOTP window each secret used: a code is refused twice, so wait for a new one. */
const lastWindow = new Map();
async function freshCode(secret) {
  for (;;) {
    const window = Math.floor(Date.now() / 30_000);
    if (lastWindow.get(secret) !== window) {
      lastWindow.set(secret, window);
      return totp(secret);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Signs in, enrols TOTP over the API and answers `{ token, secret, id }`. */
async function enrolled(person) {
  const login = await api('POST', '/api/auth/login', null, { email: person.email, password: person.password });
  expect(login.status === 200 && login.json.access_token, `login ${person.email}: ${login.status} ${JSON.stringify(login.json)}`);
  const setup = await api('POST', '/api/auth/totp/setup', login.json.access_token);
  expect(setup.status === 200, `totp setup ${person.email}: ${setup.status}`);
  const secret = new URL(setup.json.otpauth_uri).searchParams.get('secret');
  const verified = await api('POST', '/api/auth/totp/verify', login.json.access_token, { code: await freshCode(secret) });
  expect(verified.status === 200 && verified.json.access_token, `totp verify ${person.email}: ${verified.status} ${JSON.stringify(verified.json)}`);
  const me = await api('GET', '/api/auth/me', verified.json.access_token);
  return { token: verified.json.access_token, secret, id: me.json.id, patientId: me.json.patient_id };
}

async function registered(person) {
  const created = await api('POST', '/api/auth/register', null, {
    email: person.email,
    password: person.password,
    role: 'patient',
    given: [person.given],
    family: person.family,
    birth_date: person.birth,
    gender: person.gender,
  });
  expect(created.status === 201 || created.status === 200, `register ${person.email}: ${created.status} ${JSON.stringify(created.json)}`);
  return created.json.patient_id;
}

/** Registers a public client and has the admin approve it; answers its client_id. */
async function registeredClient(adminToken, name, redirectUri, launchUri) {
  const metadata = {
    client_name: name,
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: SCOPE.replace('launch/patient', 'launch launch/patient'),
  };
  if (launchUri) metadata.launch_uri = launchUri;
  const registration = await api('POST', '/oauth/register', null, metadata);
  expect(registration.status === 201 || registration.status === 200, `register ${name}: ${registration.status} ${JSON.stringify(registration.json)}`);
  const clientId = registration.json.client_id;
  const approved = await api('POST', `/api/admin/smart/clients/${encodeURIComponent(clientId)}/approve`, adminToken);
  expect(approved.status === 204 || approved.status === 200, `approve ${name}: ${approved.status} ${JSON.stringify(approved.json)}`);
  return clientId;
}

/** On the SMART sign-in page (`/smart/login`): e-mail, password, then a fresh TOTP code. */
async function smartSignIn(page, person, secret) {
  await page.getByLabel('E-mail').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Authentication code').fill(await freshCode(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
}

const app = await startSmartApp({ fhirBase, scope: SCOPE });
let adminSession;
let doctorSession;
let adaSession;
let adaPatient;
let bobPatient;
let clientId;
/** The physician's portal tab (its session lives in this tab's sessionStorage). */
let doc;

await run('setup: the admin and the physician enrol TOTP; two patients (one with records, consenting, with TOTP); the app registers and is approved', async () => {
  adminSession = await enrolled(admin);
  doctorSession = await enrolled(doctor);
  adaPatient = await registered(ada);
  bobPatient = await registered(bob);
  app.otherPatient = bobPatient;
  const seeded = await seedPatient(base, ada.email, ada.password, adaPatient);
  expect(seeded > 0, 'no record seeded');
  adaSession = await enrolled(ada);
  const grant = await api('POST', '/api/consents', adaSession.token, { grantee: doctorSession.id });
  expect(grant.status === 201 || grant.status === 200, `consent: ${grant.status} ${JSON.stringify(grant.json)}`);
  const discovery = await api('GET', '/fhir/R4/.well-known/smart-configuration');
  expect(discovery.status === 200 && discovery.json.authorization_endpoint && discovery.json.code_challenge_methods_supported?.includes('S256'), `smart-configuration: ${discovery.status} ${JSON.stringify(discovery.json)}`);
  clientId = await registeredClient(adminSession.token, 'E2E Growth Chart', app.redirectUri, app.launchUri);
  app.setClientId(clientId);
  const clients = await api('GET', '/api/admin/smart/clients', adminSession.token);
  expect(clients.json.some((c) => c.client_id === clientId && c.status === 'approved'), `the admin list: ${JSON.stringify(clients.json)}`);
});

await run('standalone launch: authorize → sign-in with TOTP → consent (one scope unticked) → the app gets a code, exchanges it with PKCE and reads the patient', async () => {
  const page = await newPage();
  watch(page);
  await page.goto(`${app.origin}/standalone`);
  await page.waitForURL(/\/smart\/login/);
  await expectAccessible(page, 'SMART sign-in');
  await smartSignIn(page, ada, adaSession.secret);
  await page.getByRole('heading', { name: 'Allow E2E Growth Chart to use your data?', level: 1 }).waitFor();
  await expectAccessible(page, 'SMART consent screen');
  await shot(page, 'smart-consent');
  const conditions = page.locator('input[data-scope="patient/Condition.rs"]');
  await conditions.uncheck();
  await page.getByRole('button', { name: 'Allow', exact: true }).click();
  await page.waitForURL(`${app.origin}/callback**`);
  await page.locator('#result').filter({ hasText: `patient: ${ada.given} ${ada.family}` }).waitFor();
  const result = app.results.at(-1);
  expect(result.tokenStatus === 200, `token: ${result.tokenStatus} ${JSON.stringify(result.token)}`);
  expect(result.token.patient === adaPatient, `patient context ${result.token.patient}, not ${adaPatient}`);
  expect(result.token.refresh_token, 'no refresh token for offline_access');
  expect(!result.token.scope.split(' ').includes('patient/Condition.rs'), `the narrowed scope came back: ${result.token.scope}`);
  expect(result.patient.status === 200, `Patient read: ${result.patient.status}`);
  const observations = result.observations.body?.entry ?? [];
  expect(result.observations.status === 200 && observations.length > 0, `Observation search: ${result.observations.status}, ${observations.length} entries`);
  expect(observations.every((e) => e.resource.subject?.reference === `Patient/${adaPatient}`), 'an observation of another patient');
  expect(result.conditions.status === 403, `Condition search with the narrowed scope: ${result.conditions.status}`);
  const apps = await api('GET', '/api/smart/authorizations', adaSession.token);
  expect(apps.status === 200 && apps.json.some((a) => a.client_id === clientId && !a.scopes.includes('patient/Condition.rs')), `Connected apps: ${JSON.stringify(apps.json)}`);
  await page.close();
});

await run('remembered decision: launching again with the scopes she approved skips the consent screen (still signing in)', async () => {
  const page = await newPage();
  watch(page);
  const approved = SCOPE.replace(' patient/Condition.rs', '');
  await page.goto(`${app.origin}/standalone?scope=${encodeURIComponent(approved)}`);
  await page.waitForURL(/\/smart\/login/);
  await smartSignIn(page, ada, adaSession.secret);
  await page.waitForURL(`${app.origin}/callback**`);
  await page.locator('#result').filter({ hasText: `patient: ${ada.given} ${ada.family}` }).waitFor();
  const result = app.results.at(-1);
  expect(result.tokenStatus === 200 && result.token.patient === adaPatient, `token: ${result.tokenStatus} ${JSON.stringify(result.token)}`);
  expect(result.token.scope.split(' ').sort().join(' ') === approved.split(' ').sort().join(' '), `scopes granted without the screen: ${result.token.scope}`);
  await page.close();
});

await run('physician standalone launch: a patient picker lists the consented patients only; the token is for the one chosen', async () => {
  const page = await newPage();
  watch(page);
  await page.goto(`${app.origin}/standalone`);
  await page.waitForURL(/\/smart\/login/);
  await smartSignIn(page, doctor, doctorSession.secret);
  await page.getByRole('heading', { name: 'Allow E2E Growth Chart to use your data?', level: 1 }).waitFor();
  const picker = page.getByTestId('smart-patient-picker');
  await picker.waitFor();
  const options = await picker.locator('option').evaluateAll((nodes) => nodes.map((node) => node.value).filter(Boolean));
  expect(options.length === 1 && options[0] === adaPatient, `the picker lists ${JSON.stringify(options)}, not only ${adaPatient}`);
  await expectAccessible(page, 'SMART consent screen with a patient picker');
  await picker.selectOption(adaPatient);
  await page.getByRole('button', { name: 'Allow', exact: true }).click();
  await page.waitForURL(`${app.origin}/callback**`);
  await page.locator('#result').filter({ hasText: `patient: ${ada.given} ${ada.family}` }).waitFor();
  const result = app.results.at(-1);
  expect(result.token.patient === adaPatient, `picked patient context ${result.token.patient}, not ${adaPatient}`);
  expect(result.token.fhirUser === `${fhirBase}/Practitioner/${doctorSession.id}`, `fhirUser ${result.token.fhirUser}`);
  expect(result.other && result.other.status !== 200, `the picked launch read a patient without consent: ${result.other?.status}`);
  await page.close();
});

await run("EHR launch: the physician's Launch app on a consented patient opens the app with that patient; the token reads nothing of another patient", async () => {
  doc = await newPage();
  watch(doc);
  await doc.goto(`${base}/login`);
  await doc.getByLabel('E-mail').fill(doctor.email);
  await doc.getByLabel('Password').fill(doctor.password);
  await doc.getByRole('button', { name: 'Sign in' }).click();
  await doc.getByLabel('Authentication code').fill(await freshCode(doctorSession.secret));
  await doc.getByRole('button', { name: 'Verify' }).click();
  await doc.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await doc.goto(`${base}/patients/${adaPatient}`);
  await doc.getByRole('heading', { name: `${ada.given} ${ada.family}`, level: 1 }).waitFor();
  await doc.getByRole('button', { name: 'Launch app' }).click();
  const [tab] = await Promise.all([context.waitForEvent('page'), doc.getByRole('list', { name: 'Apps to launch with this patient' }).getByRole('button', { name: 'E2E Growth Chart' }).click()]);
  watch(tab);
  await tab.waitForURL(/\/smart\/(login|authorize)/);
  if (/\/smart\/login/.test(tab.url())) await smartSignIn(tab, doctor, doctorSession.secret);
  await tab.getByRole('heading', { name: 'Allow E2E Growth Chart to use your data?', level: 1 }).waitFor();
  await tab.getByTestId('smart-patient').filter({ hasText: `${ada.given} ${ada.family}` }).waitFor();
  await expectAccessible(tab, 'SMART consent screen (EHR launch)');
  await tab.getByRole('button', { name: 'Allow', exact: true }).click();
  await tab.waitForURL(`${app.origin}/callback**`);
  await tab.locator('#result').filter({ hasText: `patient: ${ada.given} ${ada.family}` }).waitFor();
  const result = app.results.at(-1);
  expect(result.launch && result.token.patient === adaPatient, `EHR launch context ${result.token?.patient}, not ${adaPatient}`);
  expect(result.patient.status === 200, `Patient read: ${result.patient.status}`);
  expect(result.other && result.other.status !== 200, `the app's token read a patient without consent: ${result.other?.status}`);
  await tab.close();
});

await run('a patient who did not consent: no Launch app menu, and the launch API refuses (404)', async () => {
  watch(doc);
  await doc.goto(`${base}/patients/${bobPatient}`);
  await doc.getByRole('heading', { level: 1 }).first().waitFor();
  await doc.getByRole('heading', { name: 'No access to this patient' }).waitFor();
  expect((await doc.getByRole('button', { name: 'Launch app' }).count()) === 0, 'a Launch app menu for a patient without consent');
  const token = await doc.evaluate(() => JSON.parse(sessionStorage.getItem('medilink.physician.session') ?? 'null')?.access_token);
  const refused = await api('POST', '/api/smart/launch', token ?? doctorSession.token, { client_id: clientId, patient_id: bobPatient });
  expect(refused.status === 404, `launch for a patient without consent: ${refused.status} ${JSON.stringify(refused.json)}`);
  const allowed = await api('POST', '/api/smart/launch', doctorSession.token, { client_id: clientId, patient_id: adaPatient });
  expect(allowed.status === 200 && allowed.json.launch_url.startsWith(app.launchUri), `launch for a consenting patient (control): ${allowed.status}`);
  await doc.close();
});

await run("the patient revokes the app in Settings → Connected apps: its refresh token stops working", async () => {
  const pat = await newPage();
  watch(pat);
  const standalone = app.results.find((r) => !r.launch && r.token?.refresh_token);
  expect(standalone, 'no standalone launch with a refresh token to revoke');
  await pat.goto(`${base}/patient/login`);
  await pat.getByLabel('E-mail').fill(ada.email);
  await pat.getByLabel('Password').fill(ada.password);
  await pat.getByRole('button', { name: 'Sign in' }).click();
  await pat.getByLabel('Authentication code').fill(await freshCode(adaSession.secret));
  await pat.getByRole('button', { name: 'Verify' }).click();
  await pat.getByRole('heading', { name: 'Health summary' }).waitFor();
  // The access log names the app the reads came through.
  await pat.goto(`${base}/patient/access-log`);
  await pat.getByTestId('via-app').filter({ hasText: 'through the app E2E Growth Chart' }).first().waitFor();
  await expectAccessible(pat, 'patient access log with app reads');
  await pat.goto(`${base}/patient/settings`);
  const connected = pat.getByTestId('connected-apps');
  await connected.getByText('E2E Growth Chart').waitFor();
  await connected.getByText('Keep access after you sign out, until you revoke it').waitFor();
  await expectAccessible(pat, 'patient settings with connected apps');
  await shot(pat, 'smart-connected-apps');
  await pat.getByRole('button', { name: 'Revoke the access of E2E Growth Chart' }).click();
  await pat.getByText('No app is connected.').waitFor();
  const config = (await api('GET', '/.well-known/smart-configuration')).json;
  const refreshed = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: standalone.token.refresh_token, client_id: clientId }),
  });
  expect(refreshed.status === 400 || refreshed.status === 401, `the revoked refresh token: ${refreshed.status}`);
  const read = await fetch(`${fhirBase}/Patient/${adaPatient}`, { headers: { authorization: `Bearer ${standalone.token.access_token}` } });
  expect(read.status === 401, `the revoked access token still reads: ${read.status}`);
  await pat.close();
});

await run('hand-off to tools/smart/fhirclient_launch.py: a second approved client and a patient', async () => {
  const redirect = 'http://127.0.0.1:9/fhirclient-callback';
  const pythonClient = await registeredClient(adminSession.token, 'E2E fhirclient', redirect, null);
  const handoff = process.env.E2E_SMART_HANDOFF;
  if (!handoff) return { skipped: 'E2E_SMART_HANDOFF is not set' };
  writeFileSync(
    handoff,
    JSON.stringify({ base, client_id: pythonClient, redirect_uri: redirect, email: ada.email, password: ada.password, totp_secret: adaSession.secret, patient_id: adaPatient, other_patient_id: bobPatient }),
  );
});

await run('no uncaught errors in the browser', async () => {
  const unexpected = consoleErrors.filter((text) => !/status of (401|403|404|409)/.test(text));
  expect(unexpected.length === 0, `console errors: ${unexpected.join(' | ')}`);
});

await shutdown();
await app.close();
const skipped = results.filter((r) => r.status === 'skipped').length;
console.log(`e2e (smart): ${results.length - skipped} passed, ${skipped} skipped`);
