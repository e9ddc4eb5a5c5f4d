/* Small chemistry helpers for the browser: element symbols, XYZ text from
 * atoms, the input format of a file, and a colour scale for partial charges. */
import type { InputFormat } from '../api/types';

export const ELEMENTS = [
  'X', 'H', 'He', 'Li', 'Be', 'B', 'C', 'N', 'O', 'F', 'Ne', 'Na', 'Mg', 'Al', 'Si', 'P', 'S', 'Cl', 'Ar',
  'K', 'Ca', 'Sc', 'Ti', 'V', 'Cr', 'Mn', 'Fe', 'Co', 'Ni', 'Cu', 'Zn', 'Ga', 'Ge', 'As', 'Se', 'Br', 'Kr',
  'Rb', 'Sr', 'Y', 'Zr', 'Nb', 'Mo', 'Tc', 'Ru', 'Rh', 'Pd', 'Ag', 'Cd', 'In', 'Sn', 'Sb', 'Te', 'I', 'Xe',
  'Cs', 'Ba', 'La', 'Ce', 'Pr', 'Nd', 'Pm', 'Sm', 'Eu', 'Gd', 'Tb', 'Dy', 'Ho', 'Er', 'Tm', 'Yb', 'Lu',
  'Hf', 'Ta', 'W', 'Re', 'Os', 'Ir', 'Pt', 'Au', 'Hg', 'Tl', 'Pb', 'Bi', 'Po', 'At', 'Rn',
];

export function symbol(z: number): string {
  return ELEMENTS[z] ?? 'X';
}

export function toXyz(numbers: number[], coords: [number, number, number][], title = ''): string {
  const lines = [String(numbers.length), title.replace(/\n/g, ' ')];
  for (let i = 0; i < numbers.length; i++) {
    const c = coords[i] ?? [0, 0, 0];
    lines.push(`${symbol(numbers[i])} ${c[0].toFixed(6)} ${c[1].toFixed(6)} ${c[2].toFixed(6)}`);
  }
  return lines.join('\n') + '\n';
}

export function formatFromName(name: string): InputFormat | null {
  const m = /\.([a-z]+)$/i.exec(name);
  const ext = m ? m[1].toLowerCase() : '';
  if (ext === 'xyz') return 'xyz';
  if (ext === 'sdf' || ext === 'sd') return 'sdf';
  if (ext === 'mol') return 'mol';
  if (ext === 'smi' || ext === 'smiles') return 'smiles';
  return null;
}

/** a guess at the format of pasted text */
export function sniffFormat(text: string): InputFormat | null {
  const t = text.trimStart();
  if (!t) return null;
  const first = t.split('\n', 1)[0].trim();
  if (/^\d+$/.test(first)) return 'xyz';
  if (/V2000|V3000|M {2}END|\$\$\$\$/.test(t)) return 'sdf';
  if (!/\s/.test(first) && /^[A-Za-z0-9@+\-[\]()=#$%/\\.:*]+$/.test(first)) return 'smiles';
  return null;
}

/** how many molecules a multi-molecule file holds (for the batch view) */
export function countRecords(text: string, format: InputFormat): number {
  if (format === 'sdf' || format === 'mol') return text.split(/^\$\$\$\$\s*$/m).filter((b) => b.trim()).length;
  if (format === 'smiles') return text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length;
  const lines = text.split('\n');
  let n = 0;
  for (let i = 0; i < lines.length; ) {
    const c = parseInt(lines[i].trim(), 10);
    if (!Number.isFinite(c) || c <= 0) {
      i++;
      continue;
    }
    n++;
    i += c + 2;
  }
  return n;
}

/** red (negative) — white — blue (positive), clamped at ±range */
export function chargeColor(q: number, range = 0.5): string {
  const t = Math.max(-1, Math.min(1, q / range));
  const mix = (a: number, b: number, f: number) => Math.round(a + (b - a) * f);
  const [r, g, b] = t < 0 ? [mix(255, 214, -t), mix(255, 39, -t), mix(255, 40, -t)] : [mix(255, 31, t), mix(255, 119, t), mix(255, 180, t)];
  return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}

export const WATER_XYZ = `3
water
O   0.000000   0.000000   0.117300
H   0.000000   0.757200  -0.469200
H   0.000000  -0.757200  -0.469200
`;

export const SOLVENTS = [
  'water', 'methanol', 'ethanol', 'acetone', 'acetonitrile', 'benzene', 'chcl3', 'ch2cl2', 'dmso', 'dmf',
  'ether', 'ethylacetate', 'hexane', 'thf', 'toluene', 'cs2', 'octanol', 'nitromethane', 'phenol', 'furane',
];
