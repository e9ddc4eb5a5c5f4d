/* Every calculation of the user: filtered and sorted by the server, a page
 * (up to 1000 rows) at a time, rows virtualised so a long page stays fast. */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { api } from '../api/client';
import { METHODS, TASKS, type Calculation, type DisplayUnits } from '../api/types';
import { navigate, useUi } from '../state/hooks';
import { DEFAULT_FILTERS, ui, type CalcFilters, type SortKey } from '../state/ui';
import { fixed, formatSeconds, fromHartree, fromEv, UNIT_LABEL } from '../lib/units';
import { Empty, ErrorBox, Loading } from '../components/States';
import { rowKeyTarget } from '../lib/keys';
import { Status, usePreferences } from './Results';

const STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const SERVER_PAGE = 1000;

const COLS: { key: SortKey | null; label: string; width: string; num?: boolean }[] = [
  { key: 'created_at', label: 'submitted', width: '170px' },
  { key: 'status', label: 'status', width: '105px' },
  { key: null, label: 'calculation', width: 'minmax(110px, 1fr)' },
  { key: 'method', label: 'method', width: '80px' },
  { key: 'task', label: 'task', width: '70px' },
  { key: null, label: 'batch', width: '90px' },
  { key: 'wall', label: 'time', width: '90px', num: true },
  { key: 'total_energy', label: 'energy', width: '170px', num: true },
  { key: 'homo_lumo_gap', label: 'gap', width: '120px', num: true },
];
const TEMPLATE = COLS.map((c) => c.width).join(' ');

export const wallSeconds = (c: Calculation): number | null =>
  c.started_at && c.finished_at ? (Date.parse(c.finished_at) - Date.parse(c.started_at)) / 1000 : null;

/** the server's order argument for a sort (time is sorted here, in the page) */
export function orderArg(f: Pick<CalcFilters, 'sort' | 'desc'>): string {
  const col = f.sort === 'wall' ? 'created_at' : f.sort;
  return (f.desc ? '-' : '') + col;
}

export function CalculationsView() {
  const filters = useUi((s) => s.filters);
  const prefs = usePreferences();
  const unit: DisplayUnits = prefs.data?.display_units ?? 'hartree';
  const prec = prefs.data?.display_precision ?? 6;
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState(0);
  const setF = (p: Partial<CalcFilters>) => {
    ui.set((s) => ({ filters: { ...s.filters, ...p, page: 0 } }));
    setCursors([undefined]);
    setPage(0);
  };
  const q = useQuery({
    queryKey: ['calculations', 'table', filters.status, filters.method, filters.task, filters.batch, filters.sort, filters.desc, filters.pageSize, cursors[page]],
    queryFn: async () => {
      // the server answers at most 1000 rows a request: a larger page is
      // fetched as consecutive requests along the cursor
      const items: Calculation[] = [];
      let cursor = cursors[page];
      let next: string | null = null;
      do {
        const r = await api.calculations({
          limit: Math.min(SERVER_PAGE, filters.pageSize - items.length),
          cursor,
          order: orderArg(filters),
          status: filters.status || undefined,
          method: filters.method || undefined,
          task: filters.task || undefined,
          batch_id: filters.batch || undefined,
        });
        items.push(...r.items);
        next = r.next_cursor;
        cursor = next ?? undefined;
      } while (next && items.length < filters.pageSize);
      return { items, next_cursor: next };
    },
    placeholderData: keepPreviousData,
  });
  const next = q.data?.next_cursor ?? null;
  useEffect(() => {
    if (next && cursors.length === page + 1) setCursors((c) => [...c, next]);
  }, [next, page, cursors.length]);

  const rows = useMemo(() => {
    let r = q.data?.items ?? [];
    const s = filters.search.trim().toLowerCase();
    if (s) r = r.filter((c) => c.id.includes(s) || c.molecule_id.includes(s) || (c.error_code ?? '').toLowerCase().includes(s) || (c.solvent ?? '').includes(s));
    if (filters.sort === 'wall') {
      const sign = filters.desc ? -1 : 1;
      r = [...r].sort((a, b) => sign * ((wallSeconds(a) ?? -1) - (wallSeconds(b) ?? -1)));
    }
    return r;
  }, [q.data, filters.search, filters.sort, filters.desc]);

  const sortBy = (k: SortKey) => setF(filters.sort === k ? { desc: !filters.desc } : { sort: k, desc: true });
  const batches = useQuery({ queryKey: ['batches', 'names'], queryFn: () => api.batches({ limit: 200 }), staleTime: 30_000 });

  return (
    <section className="view" aria-labelledby="calc-title">
      <div className="view-head">
        <h1 id="calc-title">Calculations</h1>
        <button type="button" className="btn" onClick={() => setF({ ...DEFAULT_FILTERS })}>
          Clear filters
        </button>
        <button type="button" className="btn" onClick={() => q.refetch()}>
          Refresh
        </button>
      </div>
      <div className="card row" style={{ marginBottom: '0.75rem' }} role="search">
        <label>
          Status
          <select value={filters.status} onChange={(e) => setF({ status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Method
          <select value={filters.method} onChange={(e) => setF({ method: e.target.value })}>
            <option value="">any</option>
            {METHODS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Task
          <select value={filters.task} onChange={(e) => setF({ task: e.target.value })}>
            <option value="">any</option>
            {TASKS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Batch
          <select value={filters.batch} onChange={(e) => setF({ batch: e.target.value })}>
            <option value="">any</option>
            {(batches.data?.items ?? []).map((b) => (
              <option key={b.id} value={b.id}>
                {b.name || b.id.slice(-8)}
              </option>
            ))}
          </select>
        </label>
        <label style={{ flex: 1, minWidth: 180 }}>
          Search this page
          <input type="search" value={filters.search} placeholder="id, error code, solvent" onChange={(e) => ui.set((s) => ({ filters: { ...s.filters, search: e.target.value } }))} />
        </label>
        <label>
          Rows a page
          <select value={filters.pageSize} onChange={(e) => setF({ pageSize: Number(e.target.value) })}>
            {[50, 100, 250, 500, 1000, 5000, 10000].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      {q.isLoading ? (
        <Loading />
      ) : q.error ? (
        <ErrorBox error={q.error} retry={() => q.refetch()} />
      ) : rows.length === 0 ? (
        <Empty>
          No calculation matches.{' '}
          <a href="/workspace" onClick={(e) => (e.preventDefault(), navigate('/workspace'))}>
            Submit one
          </a>
          .
        </Empty>
      ) : (
        <VirtualTable rows={rows} unit={unit} prec={prec} filters={filters} sortBy={sortBy} />
      )}
      <div className="row" style={{ marginTop: '0.6rem', alignItems: 'center' }}>
        <button type="button" className="btn" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          ← Previous
        </button>
        <span className="muted" data-testid="page-info">
          page {page + 1} · {rows.length} rows{q.isFetching ? ' · refreshing' : ''}
        </span>
        <button type="button" className="btn" disabled={!next} onClick={() => setPage((p) => p + 1)}>
          Next →
        </button>
      </div>
    </section>
  );
}

function VirtualTable({ rows, unit, prec, filters, sortBy }: { rows: Calculation[]; unit: DisplayUnits; prec: number; filters: CalcFilters; sortBy: (k: SortKey) => void }) {
  const scroller = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => 34, overscan: 12 });
  // one row in the Tab order (roving tabindex): the last one moved to, or
  // the first one drawn when that one is scrolled out of the DOM
  const [current, setCurrent] = useState(0);
  const drawn = v.getVirtualItems();
  const tabbable = drawn.some((it) => it.index === current) ? current : (drawn[0]?.index ?? 0);
  const focusRow = (i: number) => {
    const k = Math.max(0, Math.min(rows.length - 1, i));
    setCurrent(k);
    v.scrollToIndex(k);
    const row = () => scroller.current?.querySelector<HTMLElement>(`[data-index="${k}"]`);
    // a row drawn already takes the focus now; one scrolled to, once drawn
    const now = row();
    if (now) now.focus();
    else requestAnimationFrame(() => row()?.focus());
  };
  const onKey = (e: KeyboardEvent, i: number, c: Calculation) => {
    const to = rowKeyTarget(e.key, i, rows.length);
    if (to !== null) (e.preventDefault(), focusRow(to));
    else if (e.key === 'Enter' || e.key === ' ') (e.preventDefault(), navigate(`/results/${c.id}`));
  };
  return (
    <div className="vtable card" role="table" aria-label="Calculations" aria-rowcount={rows.length + 1} data-testid="calc-table">
      <div className="vrow vhead" role="row" style={{ gridTemplateColumns: TEMPLATE }}>
        {COLS.map((c) => (
          <div key={c.label} role="columnheader" className={c.num ? 'num' : undefined} aria-sort={c.key && filters.sort === c.key ? (filters.desc ? 'descending' : 'ascending') : undefined}>
            {c.key ? (
              <button type="button" className="sort" onClick={() => sortBy(c.key!)}>
                {c.label}
                {filters.sort === c.key ? (filters.desc ? ' ▼' : ' ▲') : ''}
              </button>
            ) : (
              c.label
            )}
            {c.key === 'total_energy' ? ` (${UNIT_LABEL[unit]})` : c.key === 'homo_lumo_gap' ? ` (${UNIT_LABEL[unit]})` : ''}
          </div>
        ))}
      </div>
      <div ref={scroller} className="vbody" role="rowgroup">
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((it) => {
            const c = rows[it.index];
            return (
              <div
                key={c.id}
                role="row"
                tabIndex={it.index === tabbable ? 0 : -1}
                data-index={it.index}
                data-id={c.id}
                onFocus={() => setCurrent(it.index)}
                aria-rowindex={it.index + 2}
                className="vrow"
                style={{ gridTemplateColumns: TEMPLATE, transform: `translateY(${it.start}px)`, height: it.size }}
                onClick={() => navigate(`/results/${c.id}`)}
                onKeyDown={(e) => onKey(e, it.index, c)}
              >
                <div role="cell">{new Date(c.created_at).toLocaleString()}</div>
                <div role="cell">
                  <Status s={c.status} />
                </div>
                <div role="cell" className="mono-id" title={c.id}>
                  {c.id.slice(-12)}
                  {c.error_code ? <span className="field-error"> {c.error_code}</span> : null}
                </div>
                <div role="cell">{c.method}</div>
                <div role="cell">{c.task}</div>
                <div role="cell" title={c.batch_id ?? ''}>
                  {c.batch_id ? c.batch_id.slice(-6) : '—'}
                </div>
                <div role="cell" className="num">
                  {formatSeconds(wallSeconds(c))}
                </div>
                <div role="cell" className="num">
                  {c.total_energy === null ? '—' : fixed(fromHartree(c.total_energy, unit), prec)}
                </div>
                <div role="cell" className="num">
                  {c.homo_lumo_gap === null ? '—' : fixed(fromEv(c.homo_lumo_gap, unit), Math.min(prec, 4))}
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
