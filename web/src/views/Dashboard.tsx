/* The performance dashboard: average job time by atom count, method and
 * optimisation level; failures; queue depth and throughput over time; and
 * the slow-down alert, and the scheduled retention's last run, all from
 * GET /api/v1/dashboard. */
import { Fragment, useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { Dashboard, PerfGroup, Retention } from '../api/types';
import { fixed, formatSeconds } from '../lib/units';
import { Chart, type Series } from '../components/Chart';
import { Empty, QueryState } from '../components/States';

const WINDOWS = [
  { s: 3600, label: 'last hour' },
  { s: 86400, label: 'last day' },
  { s: 7 * 86400, label: 'last week' },
  { s: 30 * 86400, label: 'last 30 days' },
];

function GroupChart({ title, groups }: { title: string; groups: PerfGroup[] }) {
  const data = useMemo(() => {
    const g = groups.filter((x) => x.count > 0);
    return {
      x: g.map((_, i) => i),
      cats: g.map((x) => `${x.label ?? 'none'} (${x.count})`),
      series: [{ label: 'average s', values: g.map((x) => x.average_wall_time_seconds), bars: true }] as Series[],
    };
  }, [groups]);
  if (!data.x.length)
    return (
      <div>
        <h3>{title}</h3>
        <Empty>No finished job in this window.</Empty>
      </div>
    );
  return <Chart title={title} x={data.x} categories={data.cats} series={data.series} yLabel="seconds" height={200} />;
}

function RetentionCard({ r }: { r?: Retention }) {
  if (!r || !r.enabled)
    return (
      <div className="card" data-testid="retention">
        <h3>Retention</h3>
        <Empty>Scheduled retention is off on this server.</Empty>
      </div>
    );
  const tables = Object.entries(r.deleted_by_table ?? {}).filter(([, n]) => n > 0);
  return (
    <div className="card" data-testid="retention">
      <h3>Retention</h3>
      {r.last_error ? (
        <div className="state state-error" role="alert">
          Last run failed: {r.last_error}
        </div>
      ) : null}
      <dl className="kv">
        <dt>every</dt>
        <dd>{formatSeconds(r.interval_seconds ?? null)}</dd>
        <dt>last run</dt>
        <dd>{r.last_run_at ? `${new Date(r.last_run_at).toLocaleString()} (${formatSeconds(r.last_run_seconds ?? null)})` : 'not yet'}</dd>
        <dt>runs</dt>
        <dd>
          {r.runs ?? 0}
          {r.failures ? ` (${r.failures} failed)` : ''}
        </dd>
        <dt>rows deleted</dt>
        <dd>{r.rows_deleted_total ?? 0}</dd>
        {tables.map(([t, n]) => (
          <Fragment key={t}>
            <dt className="muted">{t}</dt>
            <dd>{n}</dd>
          </Fragment>
        ))}
      </dl>
    </div>
  );
}

export function DashboardView() {
  const [win, setWin] = useState(86400);
  const q = useQuery({ queryKey: ['dashboard', win], queryFn: () => api.dashboard({ window: win }), refetchInterval: 15_000 });
  return (
    <section className="view" aria-labelledby="dash-title">
      <div className="view-head">
        <h1 id="dash-title">Performance dashboard</h1>
        <label className="inline">
          Window
          <select value={win} onChange={(e) => setWin(Number(e.target.value))}>
            {WINDOWS.map((w) => (
              <option key={w.s} value={w.s}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <QueryState q={q}>{(d) => <DashboardBody d={d} />}</QueryState>
    </section>
  );
}

function DashboardBody({ d }: { d: Dashboard }) {
  const t = d.throughput;
  const tp = useMemo(
    () => ({
      x: d.throughput_series.map((p) => Date.parse(p.start) / 1000),
      series: [
        { label: 'completed an hour', values: d.throughput_series.map((p) => p.per_hour) },
        { label: 'average s', values: d.throughput_series.map((p) => p.average_wall_time_seconds) },
      ] as Series[],
    }),
    [d.throughput_series],
  );
  const queue = useMemo(() => {
    const times = [...new Set(d.queue_series.map((p) => p.time))].sort();
    const names = [...new Set(d.queue_series.map((p) => p.name))];
    const at = new Map(d.queue_series.map((p) => [`${p.name}|${p.time}`, p.value]));
    return {
      x: times.map((s) => Date.parse(s) / 1000),
      series: names.map((n) => ({ label: n, values: times.map((s) => at.get(`${n}|${s}`) ?? null) })) as Series[],
    };
  }, [d.queue_series]);
  const fails = useMemo(() => {
    const f = d.failures.map((x) => ({ label: String(x.category ?? x.error_category ?? x.code ?? x.error_code ?? 'unknown'), count: Number(x.count ?? 0) }));
    return { x: f.map((_, i) => i), cats: f.map((x) => x.label), series: [{ label: 'failures', values: f.map((x) => x.count), bars: true, color: '#dc2626' }] as Series[] };
  }, [d.failures]);
  return (
    <div className="stack" data-testid="dashboard">
      {d.alert.slow ? (
        <div className="state state-error" role="alert">
          <strong>Slow-down:</strong> the average job took {formatSeconds(t.average_wall_time_seconds)} in this window against {formatSeconds(t.previous_average_wall_time_seconds)} in the one before (alert above {d.alert.factor}×
          {d.alert.threshold_seconds ? `, or ${formatSeconds(d.alert.threshold_seconds)}` : ''}).
        </div>
      ) : (
        <div className="state">No slow-down: {d.alert.rule} (factor {d.alert.factor}).</div>
      )}
      <div className="grid grid-3">
        <div className="card">
          <h3>Queue now</h3>
          <dl className="kv">
            {Object.entries(d.queue).map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </Fragment>
            ))}
          </dl>
        </div>
        <div className="card">
          <h3>Throughput</h3>
          <div className="big-number">{fixed(t.per_hour, 2)} / h</div>
          <dl className="kv">
            <dt>completed</dt>
            <dd>
              {t.completed} (before: {t.previous_completed})
            </dd>
            <dt>average job</dt>
            <dd>{formatSeconds(t.average_wall_time_seconds)}</dd>
          </dl>
        </div>
        <div className="card">
          <h3>Failures</h3>
          <div className="big-number">{d.failures.reduce((a, x) => a + Number(x.count ?? 0), 0)}</div>
          <p className="muted">in this window</p>
        </div>
        <RetentionCard r={d.retention} />
      </div>
      <div className="grid grid-2">
        <div className="card">
          <GroupChart title="Average time by atom count" groups={d.by_atom_count} />
        </div>
        <div className="card">
          <GroupChart title="Average time by method" groups={d.by_method} />
        </div>
        <div className="card">
          <GroupChart title="Average time by optimisation level" groups={d.by_optimization_level} />
        </div>
        <div className="card">
          {fails.x.length ? <Chart title="Failure distribution" x={fails.x} categories={fails.cats} series={fails.series} height={200} /> : (
            <>
              <h3>Failure distribution</h3>
              <Empty>No failure in this window.</Empty>
            </>
          )}
        </div>
        <div className="card">
          {tp.x.length ? <Chart title="Throughput over time" x={tp.x} series={tp.series} time height={220} /> : <Empty>No data.</Empty>}
        </div>
        <div className="card">
          {queue.x.length ? <Chart title="Queue depth over time" x={queue.x} series={queue.series} time height={220} /> : <Empty>No queue samples yet.</Empty>}
        </div>
      </div>
    </div>
  );
}
