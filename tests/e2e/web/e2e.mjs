#!/usr/bin/env node
/* End-to-end test of the web app in real headless Chromium (Debian's
 * /usr/bin/chromium, driven by npm playwright-core: no browser is downloaded)
 * against a real `qforge serve` with real workers and xtb:
 *
 *   register → paste an XYZ of water → submit → the result view shows the
 *   energy and a 3D canvas that is not blank → reload the page in the middle
 *   of typing → the editor text and the view are restored → close the
 *   browser, open a new one, log in → still restored → close the browser in
 *   the middle of typing, reopen it → nothing lost → upload a 5-molecule
 *   batch → progress reaches 100% → the dashboard shows plots.
 *
 * A screenshot of each step is kept in the artifacts folder.
 *
 * usage: node tests/e2e/web/e2e.mjs [--qforge build/qforge] [--web-root web/dist]
 *                                   [--artifacts web/test-artifacts/e2e] [--workers 2]
 * Needs: the C build (build/qforge), `npm ci && npm run build` in web/, xtb, chromium.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const QFORGE = resolve(opt('qforge', process.env.QFORGE ?? join(root, 'build/qforge')));
const WEB_ROOT = resolve(opt('web-root', join(root, 'web/dist')));
const ART = resolve(opt('artifacts', process.env.E2E_ARTIFACTS ?? join(root, 'web/test-artifacts/e2e')));
const WORKERS = opt('workers', '2');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEP_TIMEOUT = 60_000;

const { chromium } = createRequire(join(root, 'web/package.json'))('playwright-core');

for (const [what, p] of [
  ['qforge (build it with cmake)', QFORGE],
  ['the built web app (npm run build in web/)', join(WEB_ROOT, 'index.html')],
  ['chromium (apt-get install chromium)', CHROMIUM],
])
  if (!existsSync(p)) {
    console.error(`e2e: missing ${what}: ${p}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }

mkdirSync(ART, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'qf-e2e-'));
const results = [];
let server = null;
let browser = null;

const log = (...a) => console.log('e2e:', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer() {
  const portFile = join(tmp, 'port');
  server = spawn(
    QFORGE,
    [
      'serve', '--port', '0', '--port-file', portFile, '--bind', '127.0.0.1',
      '--store', `sqlite:${join(tmp, 'qforge.db')}`, '--workers', WORKERS, '--threads', '4',
      '--web-root', WEB_ROOT, '--jobs-root', join(tmp, 'jobs'), '--secret-key', join(tmp, 'secret.key'), '--quiet',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = [];
  server.stdout.on('data', (d) => out.push(d));
  server.stderr.on('data', (d) => out.push(d));
  server.on('exit', () => writeFileSync(join(ART, 'server.log'), Buffer.concat(out)));
  for (let i = 0; i < 200; i++) {
    if (server.exitCode !== null) throw new Error(`qforge serve exited: ${Buffer.concat(out)}`);
    if (existsSync(portFile)) {
      const port = readFileSync(portFile, 'utf8').trim();
      if (port) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (r.ok) return `http://127.0.0.1:${port}`;
        } catch {
          /* not yet */
        }
      }
    }
    await sleep(100);
  }
  throw new Error('qforge serve did not become ready in 20 s');
}

let profile = '';
async function launch(reuseProfile = false) {
  if (!reuseProfile || !profile) profile = mkdtempSync(join(tmp, 'chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync',
    ],
    viewport: { width: 1366, height: 900 },
  });
}

async function step(name, page, f) {
  const t0 = Date.now();
  try {
    await f();
    results.push({ name, ok: true });
    log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, error: String(e?.message ?? e) });
    log(`FAIL ${name}: ${e?.message ?? e}`);
  }
  const file = join(ART, `${String(results.length).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
  const pg = typeof page === 'function' ? page() : page;
  if (pg) await pg.screenshot({ path: file, fullPage: false }).catch(() => {});
  // a later step needs the earlier ones: stop at the first failure
  if (!results.at(-1).ok) throw new Stop();
  return true;
}

class Stop extends Error {}

/** distinct colours of the 3D canvas: a blank one has one (its background) */
async function canvasColours(page) {
  return page.evaluate(() => {
    const c = document.querySelector('[data-testid=viewer] canvas');
    if (!c || !c.width) return 0;
    const o = document.createElement('canvas');
    o.width = c.width;
    o.height = c.height;
    const g = o.getContext('2d');
    g.drawImage(c, 0, 0);
    const d = g.getImageData(0, 0, o.width, o.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
}

const WATER = '3\nwater\nO 0.000000 0.000000 0.117300\nH 0.000000 0.757200 -0.469200\nH 0.000000 -0.757200 -0.469200\n';
const BATCH = [
  '3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692',
  '5\nmethane\nC 0 0 0\nH 0.629 0.629 0.629\nH -0.629 -0.629 0.629\nH -0.629 0.629 -0.629\nH 0.629 -0.629 -0.629',
  '4\nammonia\nN 0 0 0.1162\nH 0 0.9397 -0.2711\nH 0.8138 -0.4699 -0.2711\nH -0.8138 -0.4699 -0.2711',
  '2\nhydrogen fluoride\nF 0 0 0\nH 0 0 0.917',
  '3\nhydrogen sulfide\nS 0 0 0.1030\nH 0 0.9616 -0.8239\nH 0 -0.9616 -0.8239',
].join('\n') + '\n';

const EMAIL = 'e2e@example.org';
const PASSWORD = 'correct horse battery';

async function main() {
  const base = await startServer();
  log('server at', base, 'artifacts in', ART);
  browser = await launch();
  let page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await step('register', page, async () => {
    await page.goto(`${base}/register`);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=display_name]', 'E2E Chemist');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav.sidebar');
    await page.waitForSelector('[data-testid=editor]');
  });

  await step('paste water', page, async () => {
    await page.fill('[data-testid=editor]', WATER);
    await page.fill('input[placeholder="e.g. water"]', 'water');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=viewer]')?.getAttribute('data-atoms')) === 3);
  });

  let resultUrl = '';
  await step('submit and see the energy', page, async () => {
    await page.click('[data-testid=submit]');
    await page.waitForURL(/\/results\/[0-9a-f-]{36}$/);
    resultUrl = page.url();
    await page.waitForFunction(() => /-?\d+\.\d+ (Eh|eV|kcal\/mol|kJ\/mol)/.test(document.querySelector('[data-testid=energy]')?.textContent ?? ''), null, { timeout: 120_000 });
    const e = await page.textContent('[data-testid=energy]');
    const v = parseFloat(e);
    if (!(v < -4 && v > -6)) throw new Error(`the energy of water should be about -5.07 Eh, the page shows ${e}`);
    log('energy', e);
  });

  await step('3D canvas not blank', page, async () => {
    await page.waitForSelector('[data-testid=viewer] canvas');
    let n = 0;
    for (let i = 0; i < 50 && n < 3; i++) {
      n = await canvasColours(page);
      if (n < 3) await sleep(200);
    }
    if (n < 3) throw new Error(`the 3D canvas has ${n} colours: blank`);
    log('canvas colours', n);
  });

  const typed = WATER.replace('water', 'water, edited just before the reload');
  await step('reload in the middle of typing: restored', page, async () => {
    await page.click('nav.sidebar a[href="/workspace"]');
    await page.fill('[data-testid=editor]', typed);
    await sleep(300); // well inside the 2 s debounce: the page-hide flush must save it
    await page.reload();
    await page.waitForSelector('[data-testid=editor]');
    const text = await page.inputValue('[data-testid=editor]');
    if (text !== typed) throw new Error(`editor after reload: ${JSON.stringify(text)}`);
    if (!page.url().endsWith('/workspace')) throw new Error(`view after reload: ${page.url()}`);
  });

  await step('closed browser: view and editor restored', () => page, async () => {
    await page.goto(resultUrl);
    await page.waitForSelector('[data-testid=energy]');
    await sleep(2600); // the autosave's 2 s
    await browser.close();
    browser = await launch();
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(resultUrl);
    await page.waitForSelector('[data-testid=energy]');
    await page.click('nav.sidebar a[href="/workspace"]');
    const text = await page.inputValue('[data-testid=editor]');
    if (text !== typed) throw new Error(`editor in a new browser: ${JSON.stringify(text)}`);
  });

  const typed2 = WATER.replace('water', 'water, typed as the browser was closed');
  await step('browser closed mid-typing: nothing lost', () => page, async () => {
    await page.fill('[data-testid=editor]', typed2);
    await sleep(200); // the browser goes before the 2 s autosave
    await browser.close();
    browser = await launch(true); // the same profile, as a person reopening their browser
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForSelector('[data-testid=editor]');
    const text = await page.inputValue('[data-testid=editor]');
    if (text !== typed2) throw new Error(`editor after reopening: ${JSON.stringify(text)}`);
    await page.waitForFunction(() => /All changes saved/.test(document.querySelector('[data-testid=save-status]')?.textContent ?? ''));
  });

  await step('batch of 5 reaches 100%', page, async () => {
    const file = join(tmp, 'five.xyz');
    writeFileSync(file, BATCH);
    await page.click('nav.sidebar a[href="/batches"]');
    await page.setInputFiles('[data-testid=batch-file]', file);
    await page.waitForFunction(() => /\(5 found\)/.test(document.body.textContent ?? ''));
    await page.click('[data-testid=batch-submit]');
    await page.waitForSelector('[data-testid=batch-progress]');
    await page.waitForFunction(() => document.querySelector('[data-testid=batch-progress]')?.getAttribute('aria-valuenow') === '100', null, { timeout: 180_000 });
    const t = await page.textContent('[data-testid=batch-progress-text]');
    if (!/5 completed/.test(t)) throw new Error(`progress: ${t}`);
    log('batch', t);
  });

  await step('dashboard shows plots', page, async () => {
    await page.click('nav.sidebar a[href="/dashboard"]');
    await page.waitForSelector('[data-testid=dashboard]');
    await page.waitForFunction(() => document.querySelectorAll('.uplot canvas').length >= 3);
    await sleep(300);
  });

  await step('calculations table', page, async () => {
    await page.click('nav.sidebar a[href="/calculations"]');
    await page.waitForSelector('[data-testid=calc-table] [role=row][data-index]');
    const n = await page.locator('[data-testid=calc-table] [role=row][data-index]').count();
    if (n < 6) throw new Error(`${n} rows, expected 6`);
  });

  await step('no script error', page, async () => {
    if (errors.length) throw new Error(errors.join('; '));
  });
}

let code = 0;
try {
  await main();
} catch (e) {
  if (!(e instanceof Stop)) {
    results.push({ name: 'setup', ok: false, error: String(e?.stack ?? e) });
    log('FAIL', e?.stack ?? e);
  }
} finally {
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.on('exit', r)), sleep(15_000)]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  if (!process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  writeFileSync(join(ART, 'results.json'), JSON.stringify(results, null, 2));
  for (const r of results.filter((x) => !x.ok)) console.log(`failed: ${r.name}: ${r.error}`);
  console.log(`${passed} passed, ${failed} failed`);
  code = failed ? 1 : 0;
}
process.exit(code);
