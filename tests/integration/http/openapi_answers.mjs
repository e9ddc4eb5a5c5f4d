#!/usr/bin/env node
/* qf-test: labels=web,integration,http timeout=300 */
/* The answers of a real `qforge serve` (SQLite, one worker, real xtb) against
 * the schemas of its OpenAPI document (src/http/openapi.json), from which the
 * web app's types are generated (web/src/api/schema.d.ts): every call the web
 * client makes, each answer's status must be documented and its JSON must
 * match that status's schema (types, required members, enums, tuples,
 * allOf/oneOf, $ref). Registered in CMakeLists.txt as web.openapi_answers.
 *
 * usage: node tests/integration/http/openapi_answers.mjs [--qforge build/qforge]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const qi = args.indexOf('--qforge');
const QFORGE = resolve(qi >= 0 ? args[qi + 1] : join(root, 'build/qforge'));
const doc = JSON.parse(readFileSync(join(root, 'src/http/openapi.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'qf-openapi-answers-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/* a small JSON Schema check: what openapi.json uses, no more */
const ref = (s) => (s.$ref ? ref(doc.components.schemas[s.$ref.split('/').pop()]) : s);
function check(s, v, at, errs) {
  s = ref(s);
  if (s.allOf) return s.allOf.forEach((x) => check(x, v, at, errs));
  if (s.oneOf) {
    const ok = s.oneOf.filter((x) => { const e = []; check(x, v, at, e); return !e.length; });
    if (ok.length !== 1) errs.push(`${at}: matches ${ok.length} of oneOf: ${JSON.stringify(v)?.slice(0, 100)}`);
    return;
  }
  if (s.enum && !s.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in ${s.enum}`);
  if (s.type) {
    const ts = [].concat(s.type);
    const t = v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
    if (!ts.includes(t) && !(t === 'integer' && ts.includes('number'))) { errs.push(`${at}: ${t} (${JSON.stringify(v)?.slice(0, 60)}) is not ${ts}`); return; }
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of s.required ?? []) if (!(k in v)) errs.push(`${at}: missing ${k}`);
    for (const [k, p] of Object.entries(s.properties ?? {})) if (k in v) check(p, v[k], `${at}.${k}`, errs);
    if (s.maxProperties === 0 && Object.keys(v).length) errs.push(`${at}: not empty`);
    if (typeof s.additionalProperties === 'object') for (const [k, x] of Object.entries(v)) if (!(s.properties ?? {})[k]) check(s.additionalProperties, x, `${at}.${k}`, errs);
  }
  if (Array.isArray(v)) {
    (s.prefixItems ?? []).forEach((p, i) => check(p, v[i], `${at}[${i}]`, errs));
    if (s.prefixItems && v.length !== s.prefixItems.length) errs.push(`${at}: length ${v.length}`);
    if (s.items && !s.prefixItems) v.forEach((x, i) => check(s.items, x, `${at}[${i}]`, errs));
  }
}
const pf = join(tmp, 'port');
const srv = spawn(QFORGE, ['serve', '--port', '0', '--port-file', pf, '--bind', '127.0.0.1', '--store', `sqlite:${join(tmp, 'db')}`, '--workers', '1', '--jobs-root', join(tmp, 'jobs'), '--secret-key', join(tmp, 'key'), '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
let base;
for (let i = 0; i < 200 && !base; i++) { await sleep(100); if (existsSync(pf) && readFileSync(pf, 'utf8').trim()) base = `http://127.0.0.1:${readFileSync(pf, 'utf8').trim()}`; }
if (!base) throw new Error('qforge serve did not write its port in 20 s');
for (let i = 0; i < 100 && !(await fetch(`${base}/readyz`).then((r) => r.ok, () => false)); i++) await sleep(100);
let token = '';
let bad = 0, n = 0;
async function call(m, p, body, tmpl, st) {
  const r = await fetch(base + p, { method: m, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  const v = text ? JSON.parse(text) : null;
  const op = doc.paths[tmpl ?? p][m.toLowerCase()];
  const resp = op.responses[String(r.status)];
  const errs = [];
  if (!resp) errs.push(`status ${r.status} not documented`);
  else if (resp.content?.['application/json']) check(resp.content['application/json'].schema, v, 'doc', errs);
  else if (text) errs.push('a body where none is documented');
  n++;
  if (errs.length) { bad++; console.log(`BAD ${m} ${p} ${r.status}\n  ` + errs.slice(0, 8).join('\n  ')); } else console.log(`ok  ${m} ${p} ${r.status}`);
  return v;
}
try {
  const s = await call('POST', '/api/v1/auth/register', { email: 'v@example.org', password: 'correct horse battery', display_name: 'V' });
  token = s.token;
  await call('POST', '/api/v1/auth/login', { email: 'v@example.org', password: 'correct horse battery' });
  await call('GET', '/api/v1/auth/me');
  const m = await call('POST', '/api/v1/molecules', { format: 'xyz', data: '3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n', name: 'water' });
  await call('POST', '/api/v1/molecules', { format: 'xyz', data: '3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n', name: 'water' });
  const sub = await call('POST', '/api/v1/calculations', { molecule_id: m.id, spec: { method: 'gfn2', task: 'hess' } });
  const b = await call('POST', '/api/v1/batches', { format: 'smiles', data: 'CCO ethanol\nC methane\nnotasmiles\n' });
  await call('GET', `/api/v1/batches/${b.batch_id}/performance`, null, '/api/v1/batches/{id}/performance');
  // the detail of a finished frequency calculation: results, thermo, atoms
  let done = '';
  for (let i = 0; i < 240 && !done; i++) {
    const c = await (await fetch(`${base}/api/v1/calculations/${sub.id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
    if (c.status === 'completed' || c.status === 'failed') done = c.status;
    else await sleep(500);
  }
  if (done !== 'completed') throw new Error(`the water frequency calculation did not complete in 120 s (${done || 'still running'})`);
  for (let i = 0; i < 120; i++) { const c = await (await fetch(`${base}/api/v1/batches/${b.batch_id}`, { headers: { Authorization: `Bearer ${token}` } })).json(); if (c.counts.queued + c.counts.running === 0) break; await sleep(500); }
  await call('POST', '/api/v1/calculations', { molecule_id: m.id, spec: { method: 'gfn2', task: 'hess' } });
  await call('GET', '/api/v1/molecules');
  await call('GET', `/api/v1/molecules/${m.id}`, null, '/api/v1/molecules/{id}');
  await call('GET', '/api/v1/calculations');
  await call('GET', `/api/v1/calculations/${sub.id}`, null, '/api/v1/calculations/{id}');
  await call('GET', `/api/v1/calculations/${sub.id}/metrics`, null, '/api/v1/calculations/{id}/metrics');
  await call('GET', `/api/v1/calculations/${sub.id}/files`, null, '/api/v1/calculations/{id}/files');
  await call('POST', `/api/v1/calculations/${sub.id}/retry`, { force: true }, '/api/v1/calculations/{id}/retry');
  await call('POST', `/api/v1/calculations/${sub.id}/cancel`, null, '/api/v1/calculations/{id}/cancel');
  await call('GET', '/api/v1/batches');
  await call('GET', `/api/v1/batches/${b.batch_id}`, null, '/api/v1/batches/{id}');
  await call('GET', `/api/v1/batches/${b.batch_id}/performance`, null, '/api/v1/batches/{id}/performance');
  await call('POST', `/api/v1/batches/${b.batch_id}/retry`, {}, '/api/v1/batches/{id}/retry');
  await call('POST', `/api/v1/batches/${b.batch_id}/cancel`, null, '/api/v1/batches/{id}/cancel');
  await call('GET', '/api/v1/dashboard');
  await call('GET', '/api/v1/preferences');
  await call('PUT', '/api/v1/preferences', { display_units: 'ev' });
  await call('GET', '/api/v1/session');
  await call('PUT', '/api/v1/session', { current_view: 'workspace', editor_content: { text: 'x' } });
  await call('GET', '/api/v1/session');
  await call('POST', '/api/v1/notifications/test');
  await call('GET', '/api/v1/notifications');
  const k = await call('POST', '/api/v1/api-keys', { name: 'k', scopes: ['read'] });
  await call('GET', '/api/v1/api-keys');
  await call('DELETE', `/api/v1/api-keys/${k.id}`, null, '/api/v1/api-keys/{id}');
  const me = await call('GET', '/api/v1/auth/me');
  await call('GET', '/api/v1/users');
  await call('GET', `/api/v1/users/${me.id}`, null, '/api/v1/users/{id}');
  await call('PATCH', `/api/v1/users/${me.id}`, { display_name: 'W' }, '/api/v1/users/{id}');
  const o = await call('POST', '/api/v1/organisations', { name: 'lab' });
  await call('GET', '/api/v1/organisations');
  await call('GET', `/api/v1/organisations/${o.id}`, null, '/api/v1/organisations/{id}');
  await call('GET', `/api/v1/organisations/${o.id}/members`, null, '/api/v1/organisations/{id}/members');
  // an invited second user, made a member, its role changed, removed
  const inv = await call('POST', '/api/v1/invites', { email: 'w@example.org', role: 'researcher' });
  await call('GET', '/api/v1/invites');
  const admin = token;
  token = '';
  const s2 = await call('POST', '/api/v1/auth/register', { email: 'w@example.org', password: 'another good password', invite_code: inv.code });
  token = admin;
  const mp = '/api/v1/organisations/{id}/members/{user_id}';
  await call('PUT', `/api/v1/organisations/${o.id}/members/${s2.user.id}`, { role: 'viewer' }, mp);
  await call('PUT', `/api/v1/organisations/${o.id}/members/${s2.user.id}`, { role: 'researcher' }, mp);
  await call('GET', `/api/v1/organisations/${o.id}/members`, null, '/api/v1/organisations/{id}/members');
  await call('DELETE', `/api/v1/organisations/${o.id}/members/${s2.user.id}`, null, mp);
  await call('GET', '/api/v1/auth/me');
  await call('GET', '/api/v1/audit');
  await call('POST', '/api/v1/auth/2fa/enroll');
  const m2 = await call('POST', '/api/v1/molecules', { format: 'smiles', data: 'N', name: 'ammonia' });
  await call('DELETE', `/api/v1/molecules/${m2.id}`, null, '/api/v1/molecules/{id}');
  await call('POST', '/api/v1/auth/password', { current_password: 'correct horse battery', new_password: 'correct horse battery 2' });
  await call('POST', '/api/v1/auth/logout');
} catch (e) {
  bad++;
  console.log(`FAIL ${e?.stack ?? e}`);
} finally {
  srv.kill('SIGTERM');
  await new Promise((r) => (srv.exitCode !== null ? r() : srv.on('exit', r)));
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${n - bad} passed, ${bad} failed`);
process.exit(bad || n < 40 ? 1 : 0);
