#!/usr/bin/env node
/* bench/web: what the web app costs a browser.
 *
 *   1. bytes sent on first load (gzip, as qforge serve sends them: the .gz
 *      files beside web/dist's assets), the initial JavaScript and all of it;
 *   2. in headless Chromium, the time from navigation to a rendered results
 *      page of a 60-atom calculation (C60, GFN2-xTB, run by a real worker);
 *   3. the time from navigation to a rendered calculations table of 10,000
 *      rows, and the time to show its last rows after a jump to the bottom
 *      (the table is virtualised);
 *
 * each time as a ratio to the time the same browser takes to render a plain
 * static HTML page of the same data served by nginx (gzip on).
 *
 * usage: node bench/web/run.mjs [--qforge build/qforge] [--runs 5]
 * Prints a table and writes bench/web/results.json. Traffic stays on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const QFORGE = resolve(opt('qforge', join(root, 'build/qforge')));
const RUNS = Number(opt('runs', '5'));
const DIST = join(root, 'web/dist');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
const ROWS = 10000;
const { chromium } = createRequire(join(root, 'web/package.json'))('playwright-core');

const tmp = mkdtempSync(join(tmpdir(), 'qf-bench-web-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const procs = [];

/* ---- 1. bytes on first load ---- */
function firstLoad() {
  const gz = (f) => readFileSync(join(DIST, f + '.gz')).length;
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  const assets = readdirSync(join(DIST, 'assets')).filter((f) => /\.(js|css)$/.test(f));
  const js = assets.filter((f) => f.endsWith('.js'));
  return {
    first_load_gzip_bytes: gz('index.html') + initial.reduce((s, f) => s + gz(f), 0),
    initial_js_gzip_bytes: initial.filter((f) => f.endsWith('.js')).reduce((s, f) => s + gz(f), 0),
    all_js_gzip_bytes: js.reduce((s, f) => s + gz(`assets/${f}`), 0),
    lazy_chunks: js.filter((f) => !initial.includes(`assets/${f}`)).map((f) => ({ file: f, gzip_bytes: gz(`assets/${f}`) })),
  };
}

/* ---- the server and its data ---- */
function startQforge(workers) {
  const portFile = join(tmp, `port-${workers}`);
  const p = spawn(QFORGE, ['serve', '--port', '0', '--port-file', portFile, '--store', `sqlite:${join(tmp, 'qf.db')}`, '--workers', String(workers), '--web-root', DIST, '--jobs-root', join(tmp, 'jobs'), '--secret-key', join(tmp, 'key'), '--quiet'], { stdio: 'ignore' });
  procs.push(p);
  return (async () => {
    for (let i = 0; i < 300; i++) {
      if (existsSync(portFile) && readFileSync(portFile, 'utf8').trim()) {
        const base = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
        try {
          if ((await fetch(`${base}/readyz`)).ok) return { base, proc: p };
        } catch {
          /* not yet */
        }
      }
      await sleep(100);
    }
    throw new Error('qforge serve did not start');
  })();
}
async function stop(p) {
  p.kill('SIGTERM');
  await Promise.race([new Promise((r) => p.on('exit', r)), sleep(20000)]);
}

class Client {
  constructor(base) {
    this.base = base;
    this.cookies = {};
  }
  async call(method, path, body) {
    const h = { 'Content-Type': 'application/json', Cookie: Object.entries(this.cookies).map(([k, v]) => `${k}=${v}`).join('; ') };
    if (this.cookies.qf_csrf) h['X-CSRF-Token'] = this.cookies.qf_csrf;
    const r = await fetch(this.base + path, { method, headers: h, body: body ? JSON.stringify(body) : undefined });
    for (const c of r.headers.getSetCookie?.() ?? []) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      this.cookies[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const doc = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(doc)}`);
    return doc;
  }
}

/** C60: the even permutations of (0, ±1, ±3φ), (±1, ±(2+φ), ±2φ), (±φ, ±2, ±(2φ+1)), edge 1.40 Å */
function c60() {
  const f = (1 + Math.sqrt(5)) / 2;
  const base = [[0, 1, 3 * f], [1, 2 + f, 2 * f], [f, 2, 2 * f + 1]];
  const pts = new Map();
  for (const b of base)
    for (const [i, j, k] of [[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      for (const sx of [1, -1])
        for (const sy of [1, -1])
          for (const sz of [1, -1]) {
            const p = [b[i] * sx, b[j] * sy, b[k] * sz].map((v) => v * 0.7);
            pts.set(p.map((v) => v.toFixed(4)).join(','), p);
          }
  const a = [...pts.values()];
  if (a.length !== 60) throw new Error(`C60 has ${a.length} atoms`);
  return `60\nC60\n${a.map((p) => `C ${p.map((v) => v.toFixed(6)).join(' ')}`).join('\n')}\n`;
}

/* ---- the static pages of the same data, and nginx ---- */
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]);
function staticPages(dir, calc, rows) {
  mkdirSync(dir, { recursive: true });
  const r = calc.results;
  const atoms = calc.atomic_properties;
  writeFileSync(
    join(dir, 'results.html'),
    `<!doctype html><meta charset=utf-8><title>result</title><h1>${esc(calc.molecule?.formula)}</h1>
<p id=energy>${r.total_energy_hartree.toFixed(6)} Eh</p><p>gap ${r.homo_lumo_gap_ev.toFixed(4)} eV</p><p>dipole ${r.dipole_debye.toFixed(4)} D</p>
<table><tr><th>atom<th>x<th>y<th>z<th>q</tr>${atoms.map((a) => `<tr><td>${a.element}${a.atom_index + 1}<td>${a.x.toFixed(4)}<td>${a.y.toFixed(4)}<td>${a.z.toFixed(4)}<td>${(a.partial_charge ?? 0).toFixed(4)}</tr>`).join('')}</table>`,
  );
  writeFileSync(
    join(dir, 'table.html'),
    `<!doctype html><meta charset=utf-8><title>calculations</title><table><tr><th>submitted<th>status<th>id<th>method<th>task<th>batch<th>energy<th>gap</tr>${rows
      .map((c) => `<tr><td>${esc(c.created_at)}<td>${c.status}<td>${c.id}<td>${c.method}<td>${c.task}<td>${c.batch_id ?? ''}<td>${c.total_energy ?? ''}<td>${c.homo_lumo_gap ?? ''}</tr>`)
      .join('\n')}</table>`,
  );
}
async function startNginx(dir) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  chmodSync(tmp, 0o755); // nginx's workers run as another user
  const conf = join(tmp, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off; worker_processes 1; pid ${tmp}/nginx.pid; error_log ${tmp}/nginx-error.log;
events {}
http { include /etc/nginx/mime.types; access_log off; gzip on; gzip_types text/html;
  client_body_temp_path ${tmp}/nb; proxy_temp_path ${tmp}/np; fastcgi_temp_path ${tmp}/nf; uwsgi_temp_path ${tmp}/nu; scgi_temp_path ${tmp}/ns;
  server { listen 127.0.0.1:${port}; root ${dir}; } }\n`,
  );
  const p = spawn(NGINX, ['-c', conf, '-p', tmp], { stdio: 'ignore' });
  procs.push(p);
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/results.html`)).ok) return { base: `http://127.0.0.1:${port}`, proc: p };
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`nginx did not start: ${existsSync(join(tmp, 'nginx-error.log')) ? readFileSync(join(tmp, 'nginx-error.log'), 'utf8') : ''}`);
}

async function main() {
  const bytes = firstLoad();
  // a real worker runs C60; then 10,000 more calculations are queued with no worker
  let srv = await startQforge(1);
  const c = new Client(srv.base);
  await c.call('POST', '/api/v1/auth/register', { email: 'bench@example.org', password: 'bench password 1' });
  const mol = await c.call('POST', '/api/v1/molecules', { name: 'C60', format: 'xyz', data: c60() });
  const sub = await c.call('POST', '/api/v1/calculations', { molecule_id: mol.id, spec: { method: 'gfn2', task: 'sp' } });
  let calc;
  for (let i = 0; i < 600; i++) {
    calc = await c.call('GET', `/api/v1/calculations/${sub.id}`);
    if (calc.status === 'completed' || calc.status === 'failed') break;
    await sleep(500);
  }
  if (calc.status !== 'completed') throw new Error(`C60 ${calc.status}: ${calc.error_message}`);
  await stop(srv.proc);
  srv = await startQforge(0);
  c.base = srv.base;
  const h2 = (i) => `2\nh2 ${i}\nH 0 0 0\nH 0 0 ${(0.7 + i * 1e-5).toFixed(6)}\n`;
  for (let b = 0; b < ROWS / 2000; b++)
    await c.call('POST', '/api/v1/batches', { name: `bench ${b}`, format: 'xyz', data: Array.from({ length: 2000 }, (_, i) => h2(b * 2000 + i)).join('') });
  const rows = [];
  for (let cursor = null; ; ) {
    const p = await c.call('GET', `/api/v1/calculations?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    rows.push(...p.items);
    if (!p.next_cursor || rows.length >= ROWS) break;
    cursor = p.next_cursor;
  }
  staticPages(join(tmp, 'static'), calc, rows.slice(0, ROWS));
  const ngx = await startNginx(join(tmp, 'static'));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  await ctx.addCookies(Object.entries(c.cookies).map(([name, value]) => ({ name, value, url: srv.base })));
  const page = await ctx.newPage();
  page.setDefaultTimeout(120000);
  const now = () => page.evaluate(() => performance.now());

  const time = async (url, ready) => {
    const out = [];
    for (let i = 0; i < RUNS; i++) {
      await page.goto('about:blank');
      await page.goto(url, { waitUntil: 'commit' });
      await ready();
      out.push(await now());
    }
    return median(out);
  };
  // the table shows 10,000 rows a page (saved UI state, as a user would leave it)
  await c.call('PUT', '/api/v1/session', { current_view: '/calculations', ui_preferences: { version: 1, filters: { pageSize: ROWS, sort: 'created_at', desc: true } } });

  const appResult = await time(`${srv.base}/results/${calc.id}`, async () => {
    await page.waitForFunction(() => /Eh|eV|mol/.test(document.querySelector('[data-testid=energy]')?.textContent ?? '') && document.querySelector('[data-testid=viewer]')?.getAttribute('data-atoms') === '60');
  });
  const staticResult = await time(`${ngx.base}/results.html`, () => page.waitForLoadState('load'));
  const appTable = await time(`${srv.base}/calculations`, async () => {
    await page.waitForFunction((n) => (document.querySelector('[data-testid=page-info]')?.textContent ?? '').includes(`${n} rows`) && document.querySelector('[data-testid=calc-table] [data-index]'), ROWS);
  });
  const staticTable = await time(`${ngx.base}/table.html`, () => page.waitForLoadState('load'));
  // responsiveness: jump to the end of the 10,000 rows, time until they show
  await page.goto(`${srv.base}/calculations`);
  await page.waitForFunction((n) => (document.querySelector('[data-testid=page-info]')?.textContent ?? '').includes(`${n} rows`), ROWS);
  const jump = await page.evaluate(async (n) => {
    const body = document.querySelector('.vbody');
    const t0 = performance.now();
    body.scrollTop = body.scrollHeight;
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      if (document.querySelector(`[data-index="${n - 1}"]`)) return performance.now() - t0;
    }
  }, ROWS);
  const domRows = await page.evaluate(() => document.querySelectorAll('[data-testid=calc-table] [data-index]').length);
  await browser.close();

  const res = {
    ...bytes,
    results_page_60_atoms_ms: Math.round(appResult),
    results_page_static_nginx_ms: Math.round(staticResult),
    results_page_ratio: +(appResult / staticResult).toFixed(2),
    table_10000_rows_ms: Math.round(appTable),
    table_10000_static_nginx_ms: Math.round(staticTable),
    table_ratio: +(appTable / staticTable).toFixed(2),
    table_jump_to_end_ms: Math.round(jump),
    table_rows_in_dom: domRows,
    runs: RUNS,
    chromium: CHROMIUM,
  };
  writeFileSync(join(here, 'results.json'), JSON.stringify(res, null, 2) + '\n');
  const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
  console.log(`first load (gzip)              ${kb(res.first_load_gzip_bytes)} (initial JS ${kb(res.initial_js_gzip_bytes)}; all JS with lazy chunks ${kb(res.all_js_gzip_bytes)}; target < 500 KiB)`);
  console.log(`results page, 60 atoms         ${res.results_page_60_atoms_ms} ms vs static ${res.results_page_static_nginx_ms} ms: ratio ${res.results_page_ratio}`);
  console.log(`calculations table, ${ROWS} rows ${res.table_10000_rows_ms} ms vs static ${res.table_10000_static_nginx_ms} ms: ratio ${res.table_ratio}`);
  console.log(`jump to the last row           ${res.table_jump_to_end_ms} ms (${res.table_rows_in_dom} rows in the DOM of ${ROWS})`);
}

try {
  await main();
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  await sleep(500);
  rmSync(tmp, { recursive: true, force: true });
}
