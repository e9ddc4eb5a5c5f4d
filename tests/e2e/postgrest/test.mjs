// The PostgREST endpoint of qforge serve, driven by the real
// @supabase/postgrest-js client (no Supabase server involved), compared with
// `qforge query --postgrest` on the same store: the same rows, in the same
// order, the same count; malformed filters get 400 with a message.
//
//   QF_QFORGE=build/qforge QF_STORE=sqlite:/tmp/x.db QF_URL=http://127.0.0.1:PORT node test.mjs
//
// Run by tests/integration/http/test_postgrest.c (make test), which builds
// the store (qforge run + qforge props recompute), starts qforge serve on it
// and gives an administrator's API key; the CLI answers as the local user,
// who owns every row of that store.
import { PostgrestClient } from '@supabase/postgrest-js';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

const qforge = process.env.QF_QFORGE ?? 'build/qforge';
const store = process.env.QF_STORE;
const url = process.env.QF_URL;
if (!store || !url) throw new Error('set QF_STORE and QF_URL');
const client = new PostgrestClient(`${url}/rest/v1`, {
  headers: process.env.QF_API_KEY ? { Authorization: `Bearer ${process.env.QF_API_KEY}` } : {},
});

function cli(qs, extra = []) {
  const out = execFileSync(qforge, ['query', '--postgrest', qs, '--format', 'json', '--store', store, ...extra]);
  return JSON.parse(out.toString());
}

// the seed's question: MW < 300 and logP < 5, top 1000 by gap
{
  const { data, error, count, status } = await client
    .from('calculations')
    .select('id,gap,energy', { count: 'exact' })
    .lt('mw', 300)
    .lt('logp', 5)
    .order('gap', { ascending: false })
    .limit(1000);
  assert.equal(error, null);
  assert.equal(status, 200);
  const want = cli('select=id,gap,energy&mw=lt.300&logp=lt.5&order=gap.desc&limit=1000');
  assert.deepEqual(data, want);
  assert.equal(count, want.length);
}

// or / in / is / ilike / range
{
  const { data, error } = await client
    .from('calculations')
    .select('id,name,status')
    .or('mw.lt.200,and(logp.gt.1,tpsa.lte.90)')
    .in('status', ['completed', 'failed'])
    .not('gap', 'is', null)
    .ilike('name', '*a*')
    .order('id')
    .range(0, 2);
  assert.equal(error, null);
  const want = cli('select=id,name,status&or=(mw.lt.200,and(logp.gt.1,tpsa.lte.90))&status=in.(completed,failed)'
    + '&gap=not.is.null&name=ilike.*a*&order=id.asc', ['--range', '0-2']);
  assert.deepEqual(data, want);
}

// refusals: 400 with a message naming the problem
for (const [build, code] of [
  [() => client.from('calculations').select('id').lt('owner_id', 1), 'query.column'],
  [() => client.from('calculations').select('id').lt('mw', 'abc'), 'query.value'],
  [() => client.from('calculations').select('id,molecule(*)'), 'query.select'],
]) {
  const { error, status } = await build();
  assert.equal(status, 400);
  assert.ok(error && JSON.stringify(error).includes(code), JSON.stringify(error));
}
console.log('postgrest-js e2e: ok');
