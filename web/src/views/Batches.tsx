/* Batches: upload a multi-molecule file with one spec, watch the progress
 * live (the events stream refreshes the batch), see its performance and
 * its failures, retry what failed, cancel what has not run. */
import { useMemo, useRef, useState, type ChangeEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import type { BatchCreated, BatchDetail } from '../api/types';
import { navigate, useUi } from '../state/hooks';
import { ui, type Params } from '../state/ui';
import { countRecords, formatFromName, sniffFormat } from '../lib/chem';
import { buildSpec, fieldOfMessage, type ParamField } from '../lib/spec';
import { fixed, formatSeconds } from '../lib/units';
import { SpecForm } from '../components/SpecForm';
import { Chart } from '../components/Chart';
import { Empty, ErrorBox, Loading, QueryState } from '../components/States';
import { notify } from '../components/Toasts';
import { Status } from './Results';

type BatchFormat = 'xyz' | 'sdf' | 'smiles';

export function BatchesView() {
  const active = useUi((s) => s.activeBatchId);
  const list = useQuery({ queryKey: ['batches', 'list'], queryFn: () => api.batches({ limit: 100 }) });
  return (
    <section className="view" aria-labelledby="batch-title">
      <div className="view-head">
        <h1 id="batch-title">Batches</h1>
      </div>
      <div className="grid grid-2">
        <NewBatch />
        <div className="card">
          <h2>Your batches</h2>
          <QueryState q={list} isEmpty={(p) => p.items.length === 0} empty="No batch yet: upload a file with several molecules.">
            {(p) => (
              <table className="data">
                <thead>
                  <tr>
                    <th>name</th>
                    <th>status</th>
                    <th className="num">molecules</th>
                    <th>created</th>
                  </tr>
                </thead>
                <tbody>
                  {p.items.map((b) => (
                    <tr key={b.id} aria-selected={active === b.id}>
                      <td>
                        <a
                          href="/batches"
                          onClick={(e) => {
                            e.preventDefault();
                            ui.set({ activeBatchId: b.id });
                          }}
                        >
                          {b.name || b.id.slice(-8)}
                        </a>
                      </td>
                      <td>
                        <Status s={b.status} />
                      </td>
                      <td className="num">{b.total}</td>
                      <td>{new Date(b.created_at).toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </QueryState>
        </div>
      </div>
      <div style={{ marginTop: '1rem' }}>{active ? <BatchPanel id={active} /> : <Empty>Pick a batch to follow its progress.</Empty>}</div>
    </section>
  );
}

function NewBatch() {
  const qc = useQueryClient();
  const spec = useUi((s) => s.batchSpec);
  const [text, setText] = useState('');
  const [name, setName] = useState('');
  const [format, setFormat] = useState<BatchFormat>('xyz');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [specErrors, setSpecErrors] = useState<Partial<Record<ParamField, string>>>({});
  const [created, setCreated] = useState<BatchCreated | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const n = useMemo(() => (text.trim() ? countRecords(text, format) : 0), [text, format]);

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (!f) return;
    const t = await f.text();
    const fmt = formatFromName(f.name) ?? sniffFormat(t) ?? format;
    setText(t);
    setFormat(fmt === 'mol' ? 'sdf' : fmt);
    if (!name) setName(f.name.replace(/\.[^.]+$/, ''));
    setError(null);
  };
  const submit = async () => {
    setError(null);
    setSpecErrors({});
    setCreated(null);
    if (!text.trim()) {
      setError('Upload or paste a file with molecules first.');
      return;
    }
    setBusy(true);
    try {
      const r = await api.createBatch({ data: text, format, ...(name ? { name } : {}), spec: buildSpec(spec) });
      setCreated(r);
      ui.set({ activeBatchId: r.batch_id });
      qc.invalidateQueries({ queryKey: ['batches'] });
      notify('info', `Batch created: ${r.queued} queued, ${r.reused} reused, ${r.rejected} rejected.`);
    } catch (e) {
      const err = e as ApiError;
      if (err.code?.startsWith('spec')) setSpecErrors({ [fieldOfMessage(err.message)]: err.message });
      else setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card stack">
      <h2>New batch</h2>
      <div className="row">
        <label style={{ flex: 1 }}>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. screening set 1" />
        </label>
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as BatchFormat)}>
            <option value="xyz">multi-XYZ</option>
            <option value="sdf">SDF</option>
            <option value="smiles">SMILES (one a line)</option>
          </select>
        </label>
      </div>
      <label>
        Molecules <span className="muted">({n} found)</span>
        <textarea
          className="editor mono"
          style={{ minHeight: 160 }}
          value={text}
          spellCheck={false}
          data-testid="batch-text"
          aria-invalid={!!error}
          onChange={(e) => {
            setText(e.target.value);
            setError(null);
          }}
          placeholder="several XYZ blocks one after another, an SDF with $$$$ between records, or SMILES one a line"
        />
      </label>
      <div className="row">
        <button type="button" className="btn" onClick={() => fileRef.current?.click()}>
          Upload a file
        </button>
        <input ref={fileRef} type="file" hidden accept=".xyz,.sdf,.sd,.smi,.smiles,.txt" onChange={onFile} data-testid="batch-file" />
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <SpecForm params={spec} onChange={(p: Partial<Params>) => ui.set((s) => ({ batchSpec: { ...s.batchSpec, ...p } }))} errors={specErrors} idPrefix="batch" />
      <div>
        <button type="button" className="btn primary" onClick={submit} disabled={busy} data-testid="batch-submit">
          {busy ? 'Creating…' : 'Create batch'}
        </button>
      </div>
      {created && created.rejections.length > 0 && (
        <div className="state state-error" role="alert">
          <div>
            <strong>{created.rejected} records rejected:</strong>
            <ul>
              {created.rejections.map((r, k) => (
                <li key={k}>
                  record {String(r.record ?? r.index ?? k + 1)}: {r.message} <code>{r.code}</code>
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </div>
  );
}

function BatchPanel({ id }: { id: string }) {
  const qc = useQueryClient();
  const q = useQuery<BatchDetail>({
    queryKey: ['batch', id],
    queryFn: () => api.batch(id),
    // the events stream refreshes it at each change; this is the fallback
    refetchInterval: (query) => {
      const c = query.state.data?.counts;
      return c && c.queued + c.running > 0 ? 3000 : false;
    },
  });
  const act = async (what: 'cancel' | 'retry') => {
    try {
      if (what === 'cancel') await api.cancelBatch(id);
      else await api.retryBatch(id);
      notify('info', what === 'cancel' ? 'Cancelling what has not finished.' : 'Failed calculations queued again.');
      qc.invalidateQueries({ queryKey: ['batch', id] });
    } catch (e) {
      notify('error', (e as Error).message);
    }
  };
  if (q.isLoading) return <Loading what="Loading the batch" />;
  if (q.error) return <ErrorBox error={q.error} retry={() => q.refetch()} />;
  const d = q.data!;
  const c = d.counts;
  const done = c.completed + c.failed + c.cancelled;
  const pct = c.total ? Math.round((100 * done) / c.total) : 0;
  const p = d.performance;
  const cats = Object.entries(d.failures.by_category);
  return (
    <div className="card stack" aria-labelledby="batch-panel-title">
      <div className="view-head" style={{ marginBottom: 0 }}>
        <h2 id="batch-panel-title" style={{ margin: 0, marginRight: 'auto' }}>
          {d.batch.name || d.batch.id.slice(-8)} <Status s={d.batch.status} />
        </h2>
        <button type="button" className="btn" onClick={() => (ui.set((s) => ({ filters: { ...s.filters, batch: id, page: 0 } })), navigate('/calculations'))}>
          Its calculations
        </button>
        <button type="button" className="btn" disabled={c.failed === 0} onClick={() => act('retry')}>
          Retry failed
        </button>
        <button type="button" className="btn danger" disabled={c.queued + c.running === 0} onClick={() => act('cancel')}>
          Cancel
        </button>
      </div>
      <div>
        <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label="Batch progress" data-testid="batch-progress">
          <span className="p-ok" style={{ width: `${c.total ? (100 * c.completed) / c.total : 0}%` }} />
          <span className="p-bad" style={{ width: `${c.total ? (100 * c.failed) / c.total : 0}%` }} />
          <span className="p-cancel" style={{ width: `${c.total ? (100 * c.cancelled) / c.total : 0}%` }} />
        </div>
        <p className="muted" style={{ margin: '0.3rem 0 0' }} data-testid="batch-progress-text">
          {pct}% — {c.completed} completed, {c.failed} failed, {c.cancelled} cancelled, {c.running} running, {c.queued} queued of {c.total}
        </p>
      </div>
      <div className="grid grid-2">
        <div>
          <h3>Performance</h3>
          {p ? (
            <dl className="kv">
              <dt>total time</dt>
              <dd>{formatSeconds(p.total_execution_time_seconds)}</dd>
              <dt>average job</dt>
              <dd>{formatSeconds(p.average_job_time_seconds)}</dd>
              <dt>fastest / slowest</dt>
              <dd>
                {formatSeconds(p.min_job_time_seconds)} / {formatSeconds(p.max_job_time_seconds)}
              </dd>
              <dt>average memory</dt>
              <dd>{p.average_memory_mb !== null ? `${fixed(p.average_memory_mb, 1)} MB` : '—'}</dd>
              <dt>CPU time</dt>
              <dd>{p.total_cpu_time_hours !== null ? formatSeconds(p.total_cpu_time_hours * 3600) : '—'}</dd>
              <dt>parallel efficiency</dt>
              <dd>{p.parallelization_efficiency !== null ? `${fixed(p.parallelization_efficiency * 100, 0)} %` : '—'}</dd>
              <dt>succeeded / failed</dt>
              <dd>
                {p.successful_jobs} / {p.failed_jobs} (timeouts {p.timeout_jobs}, not converged {p.convergence_failure_jobs})
              </dd>
            </dl>
          ) : (
            <Empty>No statistics until a calculation has run.</Empty>
          )}
        </div>
        <div>
          {cats.length ? (
            <Chart
              title="Failures by category"
              x={cats.map((_, i) => i)}
              categories={cats.map(([k]) => k)}
              series={[{ label: 'failed', values: cats.map(([, v]) => v), bars: true, color: '#dc2626' }]}
              height={200}
            />
          ) : (
            <>
              <h3>Failures</h3>
              <Empty>No failure.</Empty>
            </>
          )}
          {Object.keys(d.failures.by_code).length > 0 && (
            <table className="data">
              <thead>
                <tr>
                  <th>error code</th>
                  <th className="num">count</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(d.failures.by_code).map(([k, v]) => (
                  <tr key={k}>
                    <td>
                      <code>{k}</code>
                    </td>
                    <td className="num">{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </div>
  );
}
