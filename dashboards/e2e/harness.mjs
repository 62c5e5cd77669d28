// What every browser story shares: headless Chromium in a throw-away profile, steps that print
// a line each and stop the run (screenshot of the page being watched, the browser's console
// errors) on the first failure, pages whose console errors are collected, screenshots.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Launches the browser for the story `name`; `screenshots` is where pages are shot (a failure
 * as `${failureShot}.png`), `options` adds to the browser context's options.
 */
export async function startBrowser({ name, screenshots, failureShot, timeout, options = {} }) {
  const profile = mkdtempSync(join(tmpdir(), `medilink-e2e-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
    ...options,
  });
  context.setDefaultTimeout(timeout);

  let current = null;
  const results = [];
  const consoleErrors = [];

  async function shutdown() {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }

  /** Runs one step; a step may answer `{ skipped: reason }`. */
  async function run(stepName, body) {
    const step = results.length + 1;
    const started = Date.now();
    try {
      const outcome = await body();
      const skipped = typeof outcome === 'object' && outcome?.skipped;
      results.push({ name: stepName, status: skipped ? 'skipped' : 'ok' });
      console.log(`${skipped ? 'SKIP' : 'ok  '} ${String(step).padStart(2)} ${stepName} (${Date.now() - started} ms)${skipped ? ` — ${outcome.skipped}` : ''}`);
    } catch (error) {
      console.log(`FAIL ${String(step).padStart(2)} ${stepName}: ${error.message}`);
      if (current) await current.screenshot({ path: join(screenshots, `${failureShot}.png`), fullPage: true }).catch(() => {});
      if (consoleErrors.length) console.log(`browser console errors:\n  ${consoleErrors.join('\n  ')}`);
      await shutdown();
      process.exit(1);
    }
  }

  async function newPage() {
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    return page;
  }

  return {
    context,
    results,
    consoleErrors,
    run,
    newPage,
    shutdown,
    /** The page a failure is shot from. */
    watch: (page) => {
      current = page;
    },
    shot: (page, shotName) => page.screenshot({ path: join(screenshots, `${shotName}.png`), fullPage: true }),
  };
}

/**
 * The FHIR subscription websocket frames each page received (issue #21: the portals' live
 * updates): every frame's text, counted from before the page opens any socket.
 */
export function countFrames(page) {
  const frames = [];
  page.on('websocket', (socket) => {
    if (!socket.url().includes('/fhir/R4/$subscription-ws')) return;
    socket.on('framereceived', (frame) => frames.push(String(frame.payload)));
  });
  return frames;
}

/** Whether `frame` is an event notification of the shipped topic `topic`. */
export function isEventOf(frame, topic) {
  try {
    const status = JSON.parse(frame).entry?.[0]?.resource;
    const value = (name) => status?.parameter?.find((p) => p.name === name);
    return value('type')?.valueCode === 'event-notification' && value('topic')?.valueCanonical?.endsWith(`/SubscriptionTopic/${topic}`);
  } catch {
    return false;
  }
}
