/// <reference types="node" />
/* The committed src/api/schema.d.ts must be what `npm run gen:api` makes of
 * the server's OpenAPI document today: regenerate it into a temporary file
 * with the same pinned openapi-typescript and compare. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const doc = resolve(web, '../src/http/openapi.json');
const committed = join(web, 'src/api/schema.d.ts');

describe('the API types generated from src/http/openapi.json', () => {
  it('are up to date (run `npm run gen:api` in web/ after changing openapi.json)', () => {
    const pkg = JSON.parse(readFileSync(join(web, 'package.json'), 'utf8'));
    // its package's exports hide bin/: the path npm ci installs it at
    const cli = join(web, 'node_modules/openapi-typescript/bin/cli.js');
    // the test regenerates with the command of package.json's gen:api
    expect(pkg.scripts['gen:api']).toBe('openapi-typescript ../src/http/openapi.json -o src/api/schema.d.ts');
    const dir = mkdtempSync(join(tmpdir(), 'qf-gen-api-'));
    try {
      const out = join(dir, 'schema.d.ts');
      execFileSync(process.execPath, [cli, doc, '-o', out], { cwd: web, stdio: 'pipe' });
      const fresh = readFileSync(out, 'utf8');
      expect(fresh.length).toBeGreaterThan(1000);
      // toBe would print two 5,000-line files; say where they first differ
      const a = readFileSync(committed, 'utf8').split('\n');
      const b = fresh.split('\n');
      const i = a.findIndex((line, k) => line !== b[k]);
      const at = i < 0 && a.length !== b.length ? Math.min(a.length, b.length) : i;
      expect(at < 0 ? null : { line: at + 1, committed: a[at] ?? '(end)', generated: b[at] ?? '(end)' }).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('type every JSON answer of /api/v1 (no bare "object" left)', () => {
    const d = JSON.parse(readFileSync(doc, 'utf8'));
    const bare: string[] = [];
    for (const [path, ops] of Object.entries<Record<string, any>>(d.paths)) {
      if (!path.startsWith('/api/v1/') || path === '/api/v1/openapi.json') continue;
      for (const [method, op] of Object.entries<any>(ops)) {
        for (const [status, r] of Object.entries<any>(op.responses ?? {})) {
          const s = r.content?.['application/json']?.schema;
          if (status.startsWith('2') && s && s.type === 'object' && !s.properties && !s.$ref) bare.push(`${method} ${path} ${status}`);
        }
      }
    }
    expect(bare).toEqual([]);
  });
});
