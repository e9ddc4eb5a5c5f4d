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
 *   batch → progress reaches 100% → the dashboard shows plots → settings:
 *   notification choices saved with a Slack webhook, shown back only masked
 *   after a reload → a test notification reaches the test's own receiver
 *   (sent) → one to a receiver that answers 500 shows as failed for good →
 *   two-factor enrolment: the secret read from the page, a TOTP code
 *   computed here (RFC 6238), confirmed → log out → the login asks for the
 *   code, refuses a wrong one and takes the right one → two-factor login
 *   turned off with the password and a code → the SMILES CCO typed in the
 *   workspace is made 3D by the server and computed: the result shows
 *   ethanol's energy (about -11.39 Eh) and 9 atoms in 3D → keyboard only
 *   (page.keyboard): log in, skip link, navigation, a row of the calculations
 *   table opened with Enter, the result's tabs with the arrows, the energy
 *   unit changed and saved, a confirmation dialog closed with Escape (the
 *   focus back on its button) → the calculation shows in the new unit.
 *
 * A screenshot of each step is kept in the artifacts folder.
 *
 * usage: node tests/e2e/web/e2e.mjs [--qforge build/qforge] [--web-root web/dist]
 *                                   [--artifacts web/test-artifacts/e2e] [--workers 2]
 * Needs: the C build (build/qforge), `npm ci && npm run build` in web/, xtb, chromium.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
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

/* A Slack webhook receiver of the test's own (qforge serve
 * --notify-test-port lets plain http to it through): a path under /fail
 * answers 500, any other 200 "ok"; every request is kept. */
const received = [];
let receiver = null;
async function startReceiver() {
  receiver = createServer((req, res) => {
    const body = [];
    req.on('data', (d) => body.push(d));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, body: Buffer.concat(body).toString('utf8') });
      const fail = req.url.startsWith('/fail');
      res.writeHead(fail ? 500 : 200, { 'Content-Type': 'text/plain' });
      res.end(fail ? 'receiver told to fail' : 'ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  return receiver.address().port;
}

/* RFC 4648 base32, as the secret is shown */
function base32Decode(s) {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let v = 0;
  const out = [];
  for (const ch of s.replace(/[\s=]/g, '').toUpperCase()) {
    const i = A.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    v = (v << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((v >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/* RFC 6238 TOTP (HMAC-SHA1, 30 s steps from 0, 6 digits) of a raw key at
 * step `step` */
function totpAt(key, step, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', key).update(msg).digest();
  const o = h[h.length - 1] & 0x0f;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}
const stepOf = (ms) => Math.floor(ms / 1000 / 30);

/** wait until the TOTP step is later than `step` (the server takes each step once) */
async function nextStep(step) {
  while (stepOf(Date.now()) <= step) await sleep(250);
  return stepOf(Date.now());
}

async function startServer(receiverPort) {
  const portFile = join(tmp, 'port');
  server = spawn(
    QFORGE,
    [
      'serve', '--port', '0', '--port-file', portFile, '--bind', '127.0.0.1',
      '--store', `sqlite:${join(tmp, 'qforge.db')}`, '--workers', WORKERS, '--threads', '4',
      '--web-root', WEB_ROOT, '--jobs-root', join(tmp, 'jobs'), '--secret-key', join(tmp, 'secret.key'), '--quiet',
      '--notify-test-port', String(receiverPort), '--notify-backoff', '0.1', '--notify-attempts', '2',
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

/** a screenshot in the middle of the next step (what it shows only then) */
async function midShot(page, what) {
  const file = join(ART, `${String(results.length + 1).padStart(2, '0')}a-${what}.png`);
  await page.screenshot({ path: file, fullPage: false }).catch(() => {});
}

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
  const rport = await startReceiver();
  const base = await startServer(rport);
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
    // the scheduled retention (hourly by default) says when it runs and what it did
    const ret = page.locator('[data-testid=retention]');
    await ret.waitFor();
    const text = await ret.innerText();
    if (!/every/.test(text) || !/rows deleted/.test(text)) throw new Error(`retention card: ${text}`);
    await sleep(300);
  });

  await step('calculations table', page, async () => {
    await page.click('nav.sidebar a[href="/calculations"]');
    await page.waitForSelector('[data-testid=calc-table] [role=row][data-index]');
    const n = await page.locator('[data-testid=calc-table] [role=row][data-index]').count();
    if (n < 6) throw new Error(`${n} rows, expected 6`);
  });

  const HOOK_SECRET = 'T0E2E/B0E2E/e2eWebhookTokenXq7Z';
  // the masked address ends with the last four characters: -ok, fail
  const hook = (path) => `http://127.0.0.1:${rport}/${path}/${HOOK_SECRET}-${path}`;
  await step('settings: notification choices saved, webhook masked after a reload', page, async () => {
    await page.click('nav.sidebar a[href="/settings"]');
    const card = page.locator('[data-testid=notifications]');
    await card.waitFor();
    await card.getByLabel('a calculation completes').check();
    await card.getByLabel('a calculation fails').check();
    await card.getByLabel('a batch completes').check();
    await card.getByLabel(/by e-mail/).uncheck();
    await card.getByLabel(/by Slack/).check();
    // a bad address is refused next to its field, before anything is sent
    await card.getByLabel('Slack webhook address').fill('hooks.slack.com/no-scheme');
    await card.locator('[data-testid=notify-save]').click();
    await card.locator('[data-testid=webhook-error]').waitFor();
    await card.getByLabel('Slack webhook address').fill(hook('ok'));
    await card.locator('[data-testid=notify-save]').click();
    await card.locator('[data-testid=webhook-masked]').waitFor();
    if (await card.getByLabel('Slack webhook address').inputValue()) throw new Error('the webhook field still holds the address after saving');
    await page.reload();
    await page.locator('[data-testid=notifications] [data-testid=webhook-masked]').waitFor();
    const masked = await page.textContent('[data-testid=webhook-masked]');
    const want = `http://127.0.0.1:${rport}/…${hook('ok').slice(-4)}`;
    if (masked !== want) throw new Error(`the saved webhook shows as ${JSON.stringify(masked)}, expected ${JSON.stringify(want)}`);
    const html = await page.content();
    if (html.includes(HOOK_SECRET.slice(0, 20))) throw new Error('the page shows the stored webhook address in full');
    for (const l of ['a calculation completes', 'a calculation fails', 'a batch completes', /by Slack/])
      if (!(await page.locator('[data-testid=notifications]').getByLabel(l).isChecked())) throw new Error(`"${l}" is not checked after the reload`);
    if (await page.locator('[data-testid=notifications]').getByLabel(/by e-mail/).isChecked()) throw new Error('"by e-mail" is checked after the reload');
  });

  await step('settings: test notification delivered', page, async () => {
    const before = received.length;
    await page.click('[data-testid=notify-test]');
    await page.waitForFunction(() => /Queued 1 test message/.test(document.querySelector('[data-testid=notify-test-result]')?.textContent ?? ''));
    await page.waitForSelector('[data-testid=notify-list] tr[data-status=sent]', { timeout: 30_000 });
    const got = received.slice(before).find((r) => r.url === `/ok/${HOOK_SECRET}-ok`);
    if (!got || got.method !== 'POST') throw new Error(`the receiver got ${JSON.stringify(received.slice(before))}`);
    const text = JSON.parse(got.body).text ?? '';
    if (!text) throw new Error(`the Slack message has no text: ${got.body}`);
    await page.locator('[data-testid=notify-list]').scrollIntoViewIfNeeded();
  });

  await step('settings: a failed delivery shows as failed for good', page, async () => {
    const card = page.locator('[data-testid=notifications]');
    await card.getByLabel('Slack webhook address').fill(hook('fail'));
    await card.locator('[data-testid=notify-save]').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=webhook-masked]')?.textContent?.endsWith('fail'));
    if (await page.locator('[data-testid=notify-list] tr[data-status=failed]').count()) throw new Error('a failed notification before the failing one was sent');
    await page.click('[data-testid=notify-test]');
    const row = page.locator('[data-testid=notify-list] tr[data-status=failed]');
    await row.waitFor({ timeout: 30_000 });
    if ((await row.count()) !== 1) throw new Error(`${await row.count()} failed rows, expected 1`);
    const t = await row.textContent();
    if (!/failed/.test(t) || !/not tried again/.test(t) || !/HTTP 500/.test(t)) throw new Error(`the failed row says ${JSON.stringify(t)}`);
    if (received.filter((r) => r.url === `/fail/${HOOK_SECRET}-fail`).length !== 2) throw new Error('the failing receiver was not tried twice (--notify-attempts 2)');
    await row.scrollIntoViewIfNeeded();
  });

  let confirmedStep = -1;
  let loginStep = -1;
  let secret = '';
  await step('two-factor login: enrol and confirm with a computed code', page, async () => {
    // the TOTP of this test against RFC 6238's own example (appendix B, SHA-1)
    if (totpAt(Buffer.from('12345678901234567890'), stepOf(59_000), 8) !== '94287082') throw new Error('the TOTP of the test is wrong');
    const card = page.locator('[data-testid=two-factor]');
    if ((await card.locator('[data-testid=tfa-status]').getAttribute('data-on')) !== 'false') throw new Error('two-factor login is on before enrolling');
    await card.locator('[data-testid=tfa-enrol]').click();
    await card.locator('[data-testid=tfa-secret]').waitFor();
    secret = (await card.locator('[data-testid=tfa-secret]').textContent()).replace(/\s+/g, '');
    if (!/^[A-Z2-7]{16,}$/.test(secret)) throw new Error(`the secret on the page: ${JSON.stringify(secret)}`);
    const d = await card.locator('[data-testid=tfa-qr] path').getAttribute('d');
    if (!d || (d.match(/M/g) ?? []).length < 50) throw new Error('no QR code drawn');
    await card.scrollIntoViewIfNeeded();
    await midShot(page, 'two-factor-secret-and-qr-code');
    // a wrong code is refused next to the field
    const key = base32Decode(secret);
    const now = stepOf(Date.now());
    const wrong = ['000000', '111111'].find((c) => ![now - 1, now, now + 1].some((s) => totpAt(key, s) === c));
    await card.locator('[data-testid=tfa-confirm-code]').fill(wrong);
    await card.locator('[data-testid=tfa-confirm]').click();
    await card.locator('[role=alert]').filter({ hasText: /wrong/ }).waitFor();
    confirmedStep = stepOf(Date.now());
    await card.locator('[data-testid=tfa-confirm-code]').fill(totpAt(key, confirmedStep));
    await card.locator('[data-testid=tfa-confirm]').click();
    await card.locator('[data-testid=tfa-backup-codes]').waitFor();
    const codes = await card.locator('[data-testid=tfa-backup-codes] li').allTextContents();
    if (codes.length !== 10 || !codes.every((c) => /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/i.test(c.trim()))) throw new Error(`backup codes: ${JSON.stringify(codes)}`);
    await page.waitForSelector('[data-testid=tfa-status][data-on=true]');
    await midShot(page, 'two-factor-backup-codes');
    await card.locator('[data-testid=tfa-codes-done]').click();
    if (await page.locator('[data-testid=tfa-secret]').count()) throw new Error('the secret is still shown after confirming');
  });

  await step('two-factor login: log out, log in with password and code', page, async () => {
    await page.click('header.topbar button:has-text("Log out")');
    await page.waitForSelector('input[name=email]');
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    // the password alone is not enough: the form asks for the code
    await page.waitForSelector('[data-testid=login-code]');
    if (await page.locator('nav.sidebar').count()) throw new Error('signed in without the second factor');
    await page.fill('[data-testid=login-code]', '12345x');
    await page.click('button[type=submit]');
    await page.waitForSelector('.auth [role=alert][data-code="auth.2fa_invalid"]');
    await midShot(page, 'two-factor-login-wrong-code');
    if (await page.locator('nav.sidebar').count()) throw new Error('signed in with a wrong code');
    // the server takes each 30 s step once, and the confirmation used one
    loginStep = await nextStep(confirmedStep);
    await page.fill('[data-testid=login-code]', totpAt(base32Decode(secret), loginStep));
    await page.click('button[type=submit]');
    await page.waitForSelector('nav.sidebar');
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).json());
    if (me.email !== EMAIL || me.two_factor !== true) throw new Error(`signed in as ${JSON.stringify(me)}`);
  });

  await step('two-factor login: turned off with the password and a code', page, async () => {
    await page.click('nav.sidebar a[href="/settings"]');
    const card = page.locator('[data-testid=two-factor]');
    await card.locator('[data-testid=tfa-status][data-on=true]').waitFor();
    // a wrong password is refused next to its field
    await card.getByLabel('Password').fill('not the password at all');
    await card.getByLabel(/^Code/).fill(totpAt(base32Decode(secret), stepOf(Date.now())));
    await card.locator('[data-testid=tfa-disable]').click();
    await card.locator('[role=alert]').filter({ hasText: /password is wrong/ }).waitFor();
    await card.getByLabel('Password').fill(PASSWORD);
    await card.getByLabel(/^Code/).fill(totpAt(base32Decode(secret), await nextStep(loginStep)));
    await card.locator('[data-testid=tfa-disable]').click();
    await card.locator('[data-testid=tfa-status][data-on=false]').waitFor();
    await card.locator('[data-testid=tfa-enrol]').waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).json());
    if (me.two_factor !== false) throw new Error(`two_factor after turning it off: ${me.two_factor}`);
    await card.scrollIntoViewIfNeeded();
  });

  await step('a SMILES made 3D by the server, computed, shown in 3D', page, async () => {
    await page.click('nav.sidebar a[href="/workspace"]');
    await page.waitForSelector('[data-testid=editor]');
    await page.getByLabel('Format').selectOption('smiles');
    await page.fill('[data-testid=editor]', 'CCO');
    await page.fill('input[placeholder="e.g. water"]', 'ethanol from SMILES');
    // five conformers embedded, the lowest kept
    await page.fill('input[name=conformers]', '5');
    await page.click('[data-testid=submit]');
    await page.waitForURL(/\/results\/[0-9a-f-]{36}$/);
    await page.waitForFunction(() => /-?\d+\.\d+ (Eh|eV|kcal\/mol|kJ\/mol)/.test(document.querySelector('[data-testid=energy]')?.textContent ?? ''), null, { timeout: 120_000 });
    const e = parseFloat(await page.textContent('[data-testid=energy]'));
    // GFN2 ethanol is about -11.39 Eh; water's -5.07 would mean the wrong molecule
    if (!(e < -11 && e > -12)) throw new Error(`ethanol from SMILES: the page shows ${e}`);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=viewer]')?.getAttribute('data-atoms')) === 9);
    // the molecule says how it was made 3D, and the workspace shows it
    const calc = await page.evaluate(async (id) => (await fetch(`/api/v1/calculations/${id}`)).json(), page.url().split('/').pop());
    const mol = await page.evaluate(async (id) => (await fetch(`/api/v1/molecules/${id}`)).json(), calc.molecule_id);
    const emb = mol.embedding ?? {};
    if (emb.conformers_requested !== 5 || emb.conformer !== 0 || !(emb.conformers >= 1)) throw new Error(`the molecule's embedding is ${JSON.stringify(emb)}`);
    await page.click('nav.sidebar a[href="/workspace"]');
    await page.waitForFunction((n) => new RegExp(`5 conformers embedded, ${n} distinct, the lowest kept`).test(document.querySelector('[data-testid=embedding-note]')?.textContent ?? ''), emb.conformers);
    log('ethanol from SMILES', e, 'conformers', emb.conformers);
  });

  /* keyboard only: from here on the page is driven by page.keyboard alone
   * (Tab, Shift+Tab, Enter, Escape, arrows, typing); the browser is only
   * asked what has the focus and what the page shows */
  await step('keyboard only: log in, open a calculation, change a setting', () => page, async () => {
    await browser.close();
    browser = await launch();
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => errors.push(e.message));
    const kb = page.keyboard;
    /** what has the focus */
    const focused = () =>
      page.evaluate(() => {
        const a = document.activeElement;
        return {
          tag: a?.tagName.toLowerCase() ?? '',
          role: a?.getAttribute('role') ?? '',
          name: a?.getAttribute('name') ?? '',
          id: a?.id ?? '',
          text: (a?.textContent ?? '').trim().slice(0, 80),
          href: a?.getAttribute('href') ?? '',
          selected: a?.getAttribute('aria-selected') ?? '',
          index: a?.getAttribute('data-index') ?? '',
          tabindex: a?.getAttribute('tabindex') ?? '',
          rowId: a?.getAttribute('data-id') ?? '',
          testid: a?.getAttribute('data-testid') ?? '',
          visibleRing: a ? getComputedStyle(a).outlineStyle !== 'none' && parseFloat(getComputedStyle(a).outlineWidth) > 0 : false,
        };
      });
    /** the focused element once `want` holds of it: the app moves the focus
     * after it has rendered, which a loaded machine delays, so ask again
     * (every 100 ms, at most 5 s) before calling it wrong */
    const focusUntil = async (what, want) => {
      let f;
      for (let i = 0; i < 50; i++) {
        f = await focused();
        if (want(f)) return f;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what}: the focus is on ${JSON.stringify(f)}`);
    };
    /** press Tab (or Shift+Tab) until `want` holds of the focused element */
    const tabTo = async (what, want, { back = false, max = 60 } = {}) => {
      for (let i = 0; i < max; i++) {
        await kb.press(back ? 'Shift+Tab' : 'Tab');
        const f = await focused();
        if (want(f)) return f;
      }
      throw new Error(`${max} presses of ${back ? 'Shift+Tab' : 'Tab'} did not reach ${what}; the focus is on ${JSON.stringify(await focused())}`);
    };

    // log in: the e-mail field has the focus when the page opens
    await page.goto(`${base}/login`);
    await page.waitForSelector('input[name=email]');
    if ((await focused()).name !== 'email') throw new Error(`the login page opens with the focus on ${JSON.stringify(await focused())}`);
    await kb.type(EMAIL);
    await kb.press('Tab');
    if ((await focused()).name !== 'password') throw new Error(`Tab from the e-mail went to ${JSON.stringify(await focused())}`);
    await kb.type(PASSWORD);
    await kb.press('Enter');
    await page.waitForSelector('nav.sidebar');

    // on a page freshly loaded the first Tab reaches the skip link, which
    // is then shown; Enter on it puts the focus at the start of the content
    await page.reload();
    await page.waitForSelector('nav.sidebar');
    await kb.press('Tab');
    let f = await focused();
    if (f.text !== 'Skip to content') throw new Error(`the first Tab goes to ${JSON.stringify(f)}, not the skip link`);
    if (!f.visibleRing) throw new Error('the focused skip link has no focus ring');
    const skipLeft = await page.evaluate(() => document.activeElement.getBoundingClientRect().left);
    if (skipLeft < 0) throw new Error(`the focused skip link is off the screen (left ${skipLeft})`);
    await kb.press('Enter');
    if ((await focused()).id !== 'main') throw new Error(`the skip link moved the focus to ${JSON.stringify(await focused())}`);

    // the navigation: links in the Tab order, before the content
    f = await tabTo('the Calculations link', (x) => x.tag === 'a' && x.href === '/calculations', { back: true });
    if (!f.visibleRing) throw new Error('the focused navigation link has no focus ring');
    await kb.press('Enter');
    await page.waitForSelector('[data-testid=calc-table] [role=row][data-index]');
    if (!page.url().endsWith('/calculations')) throw new Error(`Enter on the Calculations link went to ${page.url()}`);

    // the table's rows: one in the Tab order, arrows move, Enter opens
    f = await tabTo('a row of the calculations table', (x) => x.role === 'row' && x.index !== '');
    if (f.index !== '0') throw new Error(`Tab reached row ${f.index} of the table first, not row 0`);
    if (!f.visibleRing) throw new Error('the focused row has no focus ring');
    await kb.press('ArrowDown');
    // the row moved to is focused and is the table's one Tab stop
    f = await focusUntil('ArrowDown from row 0', (x) => x.index === '1' && x.tabindex === '0');
    await kb.press('ArrowUp');
    f = await focusUntil('ArrowUp from row 1', (x) => x.index === '0' && x.tabindex === '0');
    const rowId = f.rowId;
    // Tab leaves the table: the other rows are not stops of their own
    await kb.press('Tab');
    f = await focused();
    if (f.role === 'row') throw new Error(`Tab from a row went to another row (${f.index})`);
    await kb.press('Shift+Tab');
    f = await focused();
    if (f.role !== 'row' || f.index !== '0') throw new Error(`Shift+Tab did not come back to row 0: ${JSON.stringify(f)}`);
    await kb.press('Enter');
    await page.waitForURL(new RegExp(`/results/${rowId}$`));
    await page.waitForFunction(() => / Eh$/.test(document.querySelector('[data-testid=energy]')?.textContent ?? ''));
    const calc = await page.evaluate(async (id) => (await fetch(`/api/v1/calculations/${id}`)).json(), rowId);
    const shownEh = parseFloat(await page.textContent('[data-testid=energy]'));
    if (Math.abs(shownEh - calc.total_energy) > 1e-4) throw new Error(`the opened calculation shows ${shownEh} Eh, its total energy is ${calc.total_energy}`);
    // the row that had the focus is gone: the focus is at the start of the content
    f = await focusUntil('after opening a calculation', (x) => x.id === 'main');

    // the result's tabs: one stop, arrows select the next one
    f = await tabTo('the selected result tab', (x) => x.role === 'tab');
    if (f.selected !== 'true' || f.text !== 'Structure') throw new Error(`Tab reached the tab ${JSON.stringify(f)}, not the selected Structure tab`);
    await kb.press('ArrowRight');
    f = await focusUntil('ArrowRight on the Structure tab', (x) => x.role === 'tab' && x.text === 'Orbitals' && x.selected === 'true');
    const panel = await page.getAttribute('[role=tabpanel]', 'aria-labelledby');
    if (panel !== f.id) throw new Error(`the panel shown belongs to ${panel}, not to ${f.id}`);
    await kb.press('ArrowLeft');
    f = await focusUntil('ArrowLeft on the Orbitals tab', (x) => x.text === 'Structure' && x.selected === 'true');

    // a setting: the energy unit, from Eh to eV, saved with Enter
    await tabTo('the Settings link', (x) => x.tag === 'a' && x.href === '/settings', { back: true });
    await kb.press('Enter');
    await page.waitForSelector('select[name=display_units]');
    f = await tabTo('the energy unit', (x) => x.name === 'display_units');
    if (!f.visibleRing) throw new Error('the focused energy unit has no focus ring');
    const before = await page.inputValue('select[name=display_units]');
    if (before !== 'hartree') throw new Error(`the energy unit is ${before} before the change`);
    await kb.press('ArrowDown');
    const after = await page.inputValue('select[name=display_units]');
    if (after !== 'ev') throw new Error(`ArrowDown on the energy unit chose ${after}`);
    await tabTo('Save preferences', (x) => x.tag === 'button' && x.text === 'Save preferences');
    await kb.press('Enter');
    await page.waitForFunction(() => /Preferences saved/.test(document.querySelector('.toasts')?.textContent ?? ''));
    const prefs = await page.evaluate(async () => (await fetch('/api/v1/preferences')).json());
    if (prefs.display_units !== 'ev') throw new Error(`the server has display_units ${prefs.display_units}`);

    // a dialog: revoking an API key asks first; Escape closes it and gives the
    // focus back to the button that opened it
    await tabTo('the name of a new API key', (x) => x.name === 'key_name');
    await kb.type('keyboard key');
    await kb.press('Enter');
    await page.waitForSelector('[data-testid=new-key]');
    f = await tabTo('the Revoke button', (x) => x.tag === 'button' && x.text === 'Revoke', { max: 40 });
    await kb.press('Enter');
    await page.waitForSelector('[data-testid=confirm-dialog][open]');
    f = await focusUntil('the dialog opened (the focus belongs on Cancel)', (x) => x.text === 'Cancel');
    await midShot(page, 'keyboard-confirm-dialog');
    // Tab stays in the modal dialog
    await kb.press('Tab');
    f = await focused();
    if (f.testid !== 'confirm-ok') throw new Error(`Tab in the dialog went to ${JSON.stringify(f)}`);
    await kb.press('Escape');
    await page.waitForSelector('[data-testid=confirm-dialog]', { state: 'detached' });
    await page.waitForFunction(() => document.activeElement?.textContent?.trim() === 'Revoke');
    const keys = await page.evaluate(async () => (await fetch('/api/v1/api-keys')).json());
    if (keys.items.some((k) => k.revoked_at)) throw new Error('Escape revoked the key');
    await kb.press('Enter');
    await page.waitForSelector('[data-testid=confirm-dialog][open]');
    await kb.press('Tab');
    await kb.press('Enter');
    await page.waitForFunction(() => /Key revoked/.test(document.querySelector('.toasts')?.textContent ?? ''));
    const keys2 = await page.evaluate(async () => (await fetch('/api/v1/api-keys')).json());
    if (!keys2.items.every((k) => k.revoked_at)) throw new Error('confirming did not revoke the key');

    // back to the calculation: it shows in the new unit
    await tabTo('the Calculations link', (x) => x.tag === 'a' && x.href === '/calculations', { back: true, max: 80 });
    await kb.press('Enter');
    await page.waitForSelector('[data-testid=calc-table] [role=row][data-index]');
    await tabTo('a row of the calculations table', (x) => x.role === 'row');
    await kb.press('Enter');
    await page.waitForURL(/\/results\/[0-9a-f-]{36}$/);
    await page.waitForFunction(() => / eV$/.test(document.querySelector('[data-testid=energy]')?.textContent ?? ''));
    const ev = parseFloat(await page.textContent('[data-testid=energy]'));
    if (Math.abs(ev - calc.total_energy * 27.211386) > 0.01) throw new Error(`the calculation shows ${ev} eV, expected ${calc.total_energy * 27.211386}`);
    log('keyboard only: energy in eV', ev);
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
  receiver?.close();
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
