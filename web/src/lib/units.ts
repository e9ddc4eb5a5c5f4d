/* Energies in the user's unit (preferences.display_units) and precision. */
import type { DisplayUnits } from '../api/types';

/** CODATA 2018: one hartree in each unit */
export const HARTREE_IN: Record<DisplayUnits, number> = {
  hartree: 1,
  ev: 27.211386245988,
  'kcal/mol': 627.5094740631,
  'kj/mol': 2625.4996394799,
};

export const UNIT_LABEL: Record<DisplayUnits, string> = {
  hartree: 'Eh',
  ev: 'eV',
  'kcal/mol': 'kcal/mol',
  'kj/mol': 'kJ/mol',
};

export function fromHartree(eh: number, unit: DisplayUnits): number {
  return eh * HARTREE_IN[unit];
}

export function toHartree(value: number, unit: DisplayUnits): number {
  return value / HARTREE_IN[unit];
}

export function fromEv(ev: number, unit: DisplayUnits): number {
  return fromHartree(ev / HARTREE_IN.ev, unit);
}

export function convert(value: number, from: DisplayUnits, to: DisplayUnits): number {
  return from === to ? value : fromHartree(toHartree(value, from), to);
}

function clampPrecision(p: number): number {
  return Math.min(15, Math.max(0, Math.round(Number.isFinite(p) ? p : 6)));
}

/** a number with `precision` decimals; '—' for a missing value */
export function fixed(v: number | null | undefined, precision: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const s = v.toFixed(clampPrecision(precision));
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** an energy given in hartree, in `unit` with its label */
export function formatEnergy(eh: number | null | undefined, unit: DisplayUnits, precision: number): string {
  if (eh === null || eh === undefined || !Number.isFinite(eh)) return '—';
  return `${fixed(fromHartree(eh, unit), precision)} ${UNIT_LABEL[unit]}`;
}

/** an energy given in eV (orbital energies, gaps), in `unit` with its label */
export function formatEv(ev: number | null | undefined, unit: DisplayUnits, precision: number): string {
  if (ev === null || ev === undefined || !Number.isFinite(ev)) return '—';
  return `${fixed(fromEv(ev, unit), precision)} ${UNIT_LABEL[unit]}`;
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 1) return `${(s * 1000).toFixed(1)} ms`;
  if (s < 120) return `${s.toFixed(2)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
