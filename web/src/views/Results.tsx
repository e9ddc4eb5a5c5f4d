/* One calculation: energies in the user's unit, frontier orbitals, dipole,
 * charges on the atoms in 3D, the orbital levels, the optimisation, the
 * vibrational modes and IR spectrum, execution metrics, errors and files. */
import { useMemo, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { CalculationDetail, DisplayUnits, Preferences } from '../api/types';
import { navigate, setTab, useUi } from '../state/hooks';
import { ui } from '../state/ui';
import { fixed, formatEnergy, formatEv, formatSeconds, fromHartree, UNIT_LABEL } from '../lib/units';
import { symbol, toXyz } from '../lib/chem';
import { broaden, modeXyz, parseG98 } from '../lib/g98';
import { Viewer3D } from '../components/Viewer3D';
import { Chart } from '../components/Chart';
import { Empty, ErrorBox, Loading, QueryState } from '../components/States';
import { Tabs } from '../components/Tabs';
import { notify } from '../components/Toasts';

export function usePreferences() {
  return useQuery<Preferences>({ queryKey: ['preferences'], queryFn: api.preferences, staleTime: 60_000 });
}

export function Status({ s }: { s: string }) {
  return <span className={`status status-${s}`}>{s}</span>;
}

const TABS = [
  ['structure', 'Structure'],
  ['orbitals', 'Orbitals'],
  ['optimisation', 'Optimisation'],
  ['frequencies', 'Frequencies'],
  ['charges', 'Charges'],
  ['metrics', 'Metrics & errors'],
  ['files', 'Files & logs'],
] as const;

export function ResultsView({ id }: { id: string | null }) {
  const active = useUi((s) => s.activeCalculationId);
  const calcId = id ?? active;
  if (!calcId)
    return (
      <section className="view">
        <h1>Results</h1>
        <Empty>
          No calculation chosen. Submit one from the{' '}
          <a href="/workspace" onClick={(e) => (e.preventDefault(), navigate('/workspace'))}>
            workspace
          </a>{' '}
          or pick one in{' '}
          <a href="/calculations" onClick={(e) => (e.preventDefault(), navigate('/calculations'))}>
            Calculations
          </a>
          .
        </Empty>
      </section>
    );
  return <Result id={calcId} />;
}

function Result({ id }: { id: string }) {
  const qc = useQueryClient();
  const prefs = usePreferences();
  const unit: DisplayUnits = prefs.data?.display_units ?? 'hartree';
  const prec = prefs.data?.display_precision ?? 6;
  const tab = useUi((s) => s.tabs.results ?? 'structure');
  const q = useQuery<CalculationDetail>({
    queryKey: ['calculation', id],
    queryFn: () => api.calculation(id),
    refetchInterval: (query) => {
      const st = query.state.data?.status;
      return st === 'queued' || st === 'running' ? 1500 : false;
    },
  });
  if (ui.get().activeCalculationId !== id) ui.set({ activeCalculationId: id });

  const act = async (what: 'cancel' | 'retry') => {
    try {
      if (what === 'cancel') await api.cancelCalculation(id);
      else await api.retryCalculation(id);
      notify('info', what === 'cancel' ? 'Cancel requested.' : 'Queued again.');
      qc.invalidateQueries({ queryKey: ['calculation', id] });
    } catch (e) {
      notify('error', (e as Error).message);
    }
  };

  return (
    <section className="view" aria-labelledby="res-title">
      <QueryState q={q}>
        {(c) => {
          const r = c.results;
          const running = c.status === 'queued' || c.status === 'running';
          return (
            <>
              <div className="view-head">
                <h1 id="res-title">
                  {c.molecule?.name || c.molecule?.formula || 'Calculation'} <span className="muted">{c.molecule?.formula}</span>
                </h1>
                <Status s={c.status} />
                <span className="badge">
                  {c.method} · {c.task}
                  {c.optimization_level && (c.task === 'opt' || c.task === 'ohess') ? ` · ${c.optimization_level}` : ''}
                  {c.solvation_model ? ` · ${c.solvation_model}(${c.solvent})` : ''}
                </span>
                {running && (
                  <button type="button" className="btn" onClick={() => act('cancel')}>
                    Cancel
                  </button>
                )}
                {(c.status === 'failed' || c.status === 'cancelled') && (
                  <button type="button" className="btn" onClick={() => act('retry')}>
                    Retry
                  </button>
                )}
              </div>
              {running && <Loading what={c.status === 'queued' ? 'Waiting for a worker' : 'Running xtb'} />}
              {c.status === 'failed' && (
                <div className="state state-error" role="alert">
                  <strong>Failed</strong> ({c.error_category}/{c.error_code}): {c.error_message} — attempt {c.attempt} of {c.max_attempts}
                </div>
              )}
              {r && (
                <div className="grid grid-3" style={{ marginBottom: '1rem' }}>
                  <div className="card">
                    <h3>Total energy</h3>
                    <div className="big-number" data-testid="energy">
                      {formatEnergy(r.total_energy_hartree ?? c.total_energy, unit, prec)}
                    </div>
                    <dl className="kv">
                      <dt>electronic</dt>
                      <dd>{formatEnergy(r.electronic_energy_hartree, unit, prec)}</dd>
                      {r.thermo && (
                        <>
                          <dt>free energy G</dt>
                          <dd>{formatEnergy(r.thermo.free_energy_hartree, unit, prec)}</dd>
                          <dt>enthalpy H</dt>
                          <dd>{formatEnergy(r.thermo.enthalpy_hartree, unit, prec)}</dd>
                          <dt>ZPVE</dt>
                          <dd>{formatEnergy(r.thermo.zpve_hartree, unit, prec)}</dd>
                        </>
                      )}
                      <dt>converged</dt>
                      <dd>{c.is_converged === null ? '—' : c.is_converged ? 'yes' : 'no'}</dd>
                    </dl>
                  </div>
                  <Frontier c={c} unit={unit} prec={prec} />
                  <div className="card">
                    <h3>Dipole moment</h3>
                    <div className="big-number">{fixed(r.dipole_debye ?? c.dipole_moment, Math.min(prec, 4))} D</div>
                    {r.dipole_vector_debye && (
                      <p className="muted" style={{ margin: 0 }}>
                        ({r.dipole_vector_debye.map((v) => fixed(v, 3)).join(', ')}) D
                      </p>
                    )}
                    <dl className="kv">
                      <dt>gradient norm</dt>
                      <dd>{fixed(r.gradient_norm ?? c.gradient_norm, 6)} Eh/a₀</dd>
                      <dt>xtb</dt>
                      <dd>{c.xtb_version ?? '—'}</dd>
                      <dt>wall time</dt>
                      <dd>{c.started_at && c.finished_at ? formatSeconds((Date.parse(c.finished_at) - Date.parse(c.started_at)) / 1000) : '—'}</dd>
                    </dl>
                  </div>
                </div>
              )}
              <Tabs id="results" label="Result sections" tabs={TABS} selected={tab} onSelect={(k) => setTab('results', k)}>
                {tab === 'structure' && <StructureTab c={c} />}
                {tab === 'orbitals' && <OrbitalsTab c={c} unit={unit} prec={prec} />}
                {tab === 'optimisation' && <OptimisationTab c={c} unit={unit} />}
                {tab === 'frequencies' && <FrequenciesTab c={c} />}
                {tab === 'charges' && <ChargesTab c={c} />}
                {tab === 'metrics' && <MetricsTab id={c.id} />}
                {tab === 'files' && <FilesTab id={c.id} />}
              </Tabs>
            </>
          );
        }}
      </QueryState>
    </section>
  );
}

function Frontier({ c, unit, prec }: { c: CalculationDetail; unit: DisplayUnits; prec: number }) {
  const r = c.results!;
  const e = r.orbital_energies_ev;
  const h = r.homo_index;
  const homo = e && h !== null && h >= 0 ? e[h] : null;
  const lumo = e && h !== null && h + 1 < e.length ? e[h + 1] : null;
  const gap = r.homo_lumo_gap_ev ?? c.homo_lumo_gap;
  return (
    <div className="card">
      <h3>HOMO–LUMO gap</h3>
      <div className="big-number" data-testid="gap">
        {formatEv(gap, unit, Math.min(prec, 4))}
      </div>
      <dl className="kv">
        <dt>HOMO</dt>
        <dd>{formatEv(homo, unit, Math.min(prec, 4))}</dd>
        <dt>LUMO</dt>
        <dd>{formatEv(lumo, unit, Math.min(prec, 4))}</dd>
        <dt>gap</dt>
        <dd>{fixed(gap, 4)} eV</dd>
      </dl>
    </div>
  );
}

function geometryXyz(c: CalculationDetail): string | null {
  const r = c.results;
  if (r?.atomic_numbers && r.geometry_angstrom) return toXyz(r.atomic_numbers, r.geometry_angstrom, c.molecule?.name ?? '');
  if (c.atomic_properties?.length)
    return toXyz(
      c.atomic_properties.map((a) => a.atomic_number),
      c.atomic_properties.map((a) => [a.x, a.y, a.z]),
      c.molecule?.name ?? '',
    );
  return null;
}

function StructureTab({ c }: { c: CalculationDetail }) {
  const [byCharge, setByCharge] = useState(true);
  const xyz = useMemo(() => geometryXyz(c), [c]);
  const charges = c.results?.partial_charges ?? (c.atomic_properties?.some((a) => a.partial_charge !== null) ? c.atomic_properties.map((a) => a.partial_charge ?? 0) : null);
  const molecule = useQuery({ queryKey: ['molecule', c.molecule_id], queryFn: () => api.molecule(c.molecule_id), enabled: !xyz });
  const data = xyz ?? (molecule.data ? toXyz(molecule.data.atomic_numbers, molecule.data.coordinates) : null);
  if (!data) return molecule.isLoading ? <Loading /> : <Empty>No structure yet.</Empty>;
  return (
    <div className="stack">
      {charges && (
        <label className="inline">
          <input type="checkbox" checked={byCharge} onChange={(e) => setByCharge(e.target.checked)} /> colour atoms by partial charge
        </label>
      )}
      <Viewer3D data={data} format="xyz" charges={byCharge ? charges : null} height={420} label={`${xyz ? 'Final' : 'Input'} structure`} />
    </div>
  );
}

function OrbitalsTab({ c, unit, prec }: { c: CalculationDetail; unit: DisplayUnits; prec: number }) {
  const r = c.results;
  const e = r?.orbital_energies_ev;
  if (!e?.length) return <Empty>No orbital energies for this calculation (GFN-FF has none).</Empty>;
  const h = r!.homo_index ?? -1;
  // a window around the frontier orbitals
  const lo = Math.max(0, h - 7);
  const hi = Math.min(e.length - 1, h + 8);
  const shown = e.slice(lo, hi + 1).map((v, k) => ({ i: lo + k, v: fromHartree(v / 27.211386245988, unit) }));
  const min = Math.min(...shown.map((s) => s.v));
  const max = Math.max(...shown.map((s) => s.v));
  const H = 360;
  const y = (v: number) => 20 + (H - 40) * (1 - (v - min) / (max - min || 1));
  return (
    <div className="grid grid-2">
      <svg className="plot" viewBox={`0 0 360 ${H}`} width="100%" height={H} role="img" aria-label="Orbital energy levels">
        <line className="axis" x1={60} x2={60} y1={10} y2={H - 10} />
        {shown.map((s) => {
          const occ = (r!.orbital_occupations?.[s.i] ?? (s.i <= h ? 2 : 0)) > 0;
          const tag = s.i === h ? 'HOMO' : s.i === h + 1 ? 'LUMO' : '';
          return (
            <g key={s.i}>
              <line x1={110} x2={230} y1={y(s.v)} y2={y(s.v)} stroke={occ ? 'var(--accent)' : 'var(--muted)'} strokeWidth={tag ? 3 : 1.5} strokeDasharray={occ ? undefined : '5 3'} />
              <text x={56} y={y(s.v) + 4} textAnchor="end">
                {fixed(s.v, 2)}
              </text>
              {tag && (
                <text x={240} y={y(s.v) + 4}>
                  {tag}
                </text>
              )}
            </g>
          );
        })}
        <text x={10} y={14}>
          {UNIT_LABEL[unit]}
        </text>
      </svg>
      <table className="data">
        <thead>
          <tr>
            <th>#</th>
            <th className="num">energy ({UNIT_LABEL[unit]})</th>
            <th className="num">occupation</th>
          </tr>
        </thead>
        <tbody>
          {shown
            .slice()
            .reverse()
            .map((s) => (
              <tr key={s.i}>
                <td>
                  {s.i + 1}
                  {s.i === h ? ' (HOMO)' : s.i === h + 1 ? ' (LUMO)' : ''}
                </td>
                <td className="num">{fixed(s.v, Math.min(prec, 6))}</td>
                <td className="num">{fixed(r!.orbital_occupations?.[s.i] ?? null, 3)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}

function OptimisationTab({ c, unit }: { c: CalculationDetail; unit: DisplayUnits }) {
  const energies = c.results?.optimization_energies_hartree;
  const data = useMemo(() => {
    if (!energies?.length) return null;
    const last = energies[energies.length - 1];
    return {
      x: energies.map((_, i) => i + 1),
      series: [{ label: `E − E(final) / ${UNIT_LABEL[unit]}`, values: energies.map((e) => fromHartree(e - last, unit)) }],
    };
  }, [energies, unit]);
  if (!data) return <Empty>This calculation did not optimise the geometry.</Empty>;
  return <Chart title={`Energy along the optimisation (${energies!.length} steps)`} x={data.x} series={data.series} xLabel="step" yLabel={UNIT_LABEL[unit]} />;
}

function FrequenciesTab({ c }: { c: CalculationDetail }) {
  const r = c.results;
  const freqs = r?.frequencies_cm1;
  const [mode, setMode] = useState<number | null>(null);
  const g98 = useQuery({
    queryKey: ['g98', c.id],
    queryFn: async () => {
      const res = await fetch(api.fileUrl(c.id, 'g98.out'), { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`g98.out: HTTP ${res.status}`);
      return parseG98(await res.text());
    },
    enabled: !!freqs?.length,
    staleTime: Infinity,
  });
  const spectrum = useMemo(() => {
    if (!freqs?.length) return null;
    const inten = r!.ir_intensities_km_mol ?? freqs.map(() => 1);
    const max = Math.max(...freqs, 1000);
    const b = broaden(freqs, inten, 20, 0, Math.ceil(max / 500) * 500 + 200, 4);
    const sticks = b.x.map(() => null as number | null);
    freqs.forEach((f, k) => {
      if (f < 10) return;
      const j = Math.round(f / 4);
      if (j < sticks.length) sticks[j] = Math.max(sticks[j] ?? 0, inten[k] ?? 0);
    });
    return { x: b.x, series: [{ label: 'broadened (FWHM 20 cm⁻¹)', values: b.y, points: false }, { label: 'sticks', values: sticks, bars: true }] };
  }, [freqs, r]);
  if (!freqs?.length) return <Empty>No frequencies: run the task "hess" or "ohess".</Empty>;
  const modes = g98.data?.modes ?? [];
  // the real modes (xtb lists the six near-zero translations and rotations first)
  const rows = freqs.map((f, k) => ({ k, f, i: r!.ir_intensities_km_mol?.[k] ?? null, m: r!.reduced_masses_amu?.[k] ?? null })).filter((x) => Math.abs(x.f) > 1);
  const sel = mode !== null ? modes.find((m) => Math.abs(m.frequency - freqs[mode]) < 0.5) : undefined;
  const geo = g98.data && sel ? modeXyz(g98.data.atomicNumbers.map(symbol), g98.data.coordinates, sel.displacements) : null;
  return (
    <div className="grid grid-2">
      <div className="stack">
        {spectrum && <Chart title="IR spectrum" x={spectrum.x} series={spectrum.series} xLabel="wavenumber / cm⁻¹" yLabel="km/mol" />}
        <table className="data">
          <thead>
            <tr>
              <th>mode</th>
              <th className="num">ν / cm⁻¹</th>
              <th className="num">IR / km·mol⁻¹</th>
              <th className="num">μ / amu</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr key={x.k} aria-selected={mode === x.k}>
                <td>{x.k + 1}</td>
                <td className="num">{fixed(x.f, 1)}{x.f < 0 ? ' (imag.)' : ''}</td>
                <td className="num">{fixed(x.i, 2)}</td>
                <td className="num">{fixed(x.m, 3)}</td>
                <td>
                  <button type="button" className="btn small" onClick={() => setMode(mode === x.k ? null : x.k)} disabled={!g98.data}>
                    {mode === x.k ? 'Stop' : 'Animate'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {r!.imaginary_frequencies ? <p className="field-error">{r!.imaginary_frequencies} imaginary frequencies: not a minimum.</p> : null}
      </div>
      <div>
        {g98.error ? (
          <ErrorBox error={g98.error} />
        ) : geo ? (
          <Viewer3D data={geo} format="xyz" vibrate={1.2} height={400} label={`Mode at ${fixed(freqs[mode!], 1)} cm⁻¹`} />
        ) : (
          <Empty>Pick a mode to see it move.</Empty>
        )}
      </div>
    </div>
  );
}

function ChargesTab({ c }: { c: CalculationDetail }) {
  const atoms = c.atomic_properties ?? [];
  if (!atoms.length || atoms.every((a) => a.partial_charge === null)) return <Empty>No partial charges for this calculation.</Empty>;
  return (
    <table className="data">
      <thead>
        <tr>
          <th>atom</th>
          <th className="num">x / Å</th>
          <th className="num">y / Å</th>
          <th className="num">z / Å</th>
          <th className="num">charge / e</th>
        </tr>
      </thead>
      <tbody>
        {atoms.map((a) => (
          <tr key={a.atom_index}>
            <td>
              {a.element}
              {a.atom_index + 1}
            </td>
            <td className="num">{fixed(a.x, 4)}</td>
            <td className="num">{fixed(a.y, 4)}</td>
            <td className="num">{fixed(a.z, 4)}</td>
            <td className="num">{fixed(a.partial_charge, 4)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function MetricsTab({ id }: { id: string }) {
  const q = useQuery({ queryKey: ['calculation', id, 'metrics'], queryFn: () => api.calculationMetrics(id) });
  const [log, setLog] = useState<number | null>(null);
  return (
    <QueryState q={q}>
      {(m) => (
        <div className="stack">
          <h3>Execution metrics, by attempt</h3>
          {m.metrics.length === 0 ? (
            <Empty>No attempt has finished yet.</Empty>
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>attempt</th>
                  <th className="num">wall</th>
                  <th className="num">CPU</th>
                  <th className="num">SCF cycles</th>
                  <th className="num">opt cycles</th>
                  <th className="num">memory</th>
                  <th>converged</th>
                  <th className="num">exit</th>
                  <th>worker</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {m.metrics.map((x) => (
                  <tr key={x.id}>
                    <td>{x.attempt}</td>
                    <td className="num">{formatSeconds(x.wall_time_seconds)}</td>
                    <td className="num">{formatSeconds(x.cpu_time_seconds)}</td>
                    <td className="num">{x.scf_cycles ?? '—'}</td>
                    <td className="num">{x.optimization_cycles ?? '—'}</td>
                    <td className="num">{x.memory_peak_mb ? `${fixed(x.memory_peak_mb, 1)} MB` : '—'}</td>
                    <td>{x.is_converged === null ? '—' : x.is_converged ? 'yes' : 'no'}</td>
                    <td className="num">{x.exit_code ?? '—'}</td>
                    <td>{x.worker ?? '—'}</td>
                    <td>
                      <button type="button" className="btn small" onClick={() => setLog(log === x.id ? null : x.id)}>
                        {log === x.id ? 'Hide log' : 'Log'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {log !== null && <pre className="log">{m.metrics.find((x) => x.id === log)?.stdout_log ?? ''}{'\n'}{m.metrics.find((x) => x.id === log)?.stderr_log ?? ''}</pre>}
          <h3>Errors and retries</h3>
          {m.errors.length === 0 ? (
            <Empty>No error was recorded.</Empty>
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>attempt</th>
                  <th>category</th>
                  <th>code</th>
                  <th>message</th>
                  <th>when</th>
                </tr>
              </thead>
              <tbody>
                {m.errors.map((e, k) => (
                  <tr key={String(e.id ?? k)}>
                    <td>{e.attempt ?? '—'}</td>
                    <td>{e.category ?? e.error_category ?? '—'}</td>
                    <td>
                      <code>{e.code ?? e.error_code ?? '—'}</code>
                    </td>
                    <td style={{ whiteSpace: 'normal' }}>{e.message ?? e.error_message ?? ''}</td>
                    <td>{e.created_at ? new Date(e.created_at).toLocaleString() : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </QueryState>
  );
}

function FilesTab({ id }: { id: string }) {
  const q = useQuery({ queryKey: ['calculation', id, 'files'], queryFn: () => api.calculationFiles(id) });
  return (
    <QueryState q={q} isEmpty={(f) => f.files.length === 0} empty="The job directory holds no files (yet).">
      {(f) => (
        <table className="data">
          <thead>
            <tr>
              <th>file</th>
              <th className="num">size</th>
            </tr>
          </thead>
          <tbody>
            {f.files
              .slice()
              .sort((a, b) => a.name.localeCompare(b.name))
              .map((x) => (
                <tr key={x.name}>
                  <td>
                    <a href={api.fileUrl(id, x.name)} download={x.name}>
                      {x.name}
                    </a>
                  </td>
                  <td className="num">{x.size < 1024 ? `${x.size} B` : `${fixed(x.size / 1024, 1)} KiB`}</td>
                </tr>
              ))}
          </tbody>
        </table>
      )}
    </QueryState>
  );
}
