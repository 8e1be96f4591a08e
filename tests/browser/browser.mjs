// Shared by the scenario scripts: Chromium (Debian's, /usr/bin/chromium) driven by
// playwright-core from clients/web's devDependencies, a fresh profile per run, and the JSON
// result line pytest reads. Scripts get their URLs from the environment, never guess them.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../clients/web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// No internet here: no QUIC, no component or sync traffic, no first-run UI.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (pytest passes it)`);
  return value;
}

/** A persistent context on a fresh --user-data-dir, removed afterwards. */
export async function withBrowser(options, run) {
  const profile = mkdtempSync(join(tmpdir(), 'streamproc-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1180, height: 820 },
    deviceScaleFactor: 1,
    ...options,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS || 30000));
    const logs = [];
    page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    return await run(page, { context, logs });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A PNG in SCREENSHOT_DIR: the full page, or only `element` (a locator) when given. */
export async function screenshot(page, name, { element = null } = {}) {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return null;
  const path = join(dir, `${name}.png`);
  // animations: 'disabled' ends the bar's CSS transition, so it shows the value it has reached
  if (element) await element.screenshot({ path, animations: 'disabled' });
  else await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

/** Records every value the progress bar shows (aria-valuenow), from before the page's scripts run. */
export const RECORD_PROGRESS = `
  window.__seenProgress = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.type === 'attributes' ? r.target : null;
      const found = el ? [el] : [...r.addedNodes].flatMap((n) =>
        n.nodeType === 1 ? [n, ...n.querySelectorAll('[role=progressbar]')] : []);
      for (const bar of found) {
        if (bar.getAttribute && bar.getAttribute('role') === 'progressbar') {
          const v = Number(bar.getAttribute('aria-valuenow'));
          const seen = window.__seenProgress;
          if (seen[seen.length - 1] !== v) seen.push(v);
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
`;

/** Runs `main`, prints its result as the last stdout line, exits 0 on success, 1 on failure. */
export async function report(main) {
  const result = { ok: false, errors: [] };
  try {
    Object.assign(result, await main(result));
    result.ok = result.errors.length === 0;
  } catch (err) {
    result.errors.push(String(err && err.stack ? err.stack : err));
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}
