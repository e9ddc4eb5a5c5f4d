/* Normal modes from the Gaussian-98-style file xtb writes for a frequency
 * run (g98.out in the job directory): frequencies, intensities and the
 * displacement of every atom in every mode, for the mode animation. */
export interface NormalMode {
  frequency: number;
  intensity: number | null;
  reducedMass: number | null;
  /** one [dx, dy, dz] per atom */
  displacements: [number, number, number][];
}

export interface G98 {
  atomicNumbers: number[];
  coordinates: [number, number, number][];
  modes: NormalMode[];
}

const nums = (s: string) => s.trim().split(/\s+/).map(Number);

export function parseG98(text: string): G98 {
  const lines = text.split(/\r?\n/);
  const atomicNumbers: number[] = [];
  const coordinates: [number, number, number][] = [];
  const modes: NormalMode[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    if (/Standard orientation/.test(lines[i])) {
      i += 5;
      for (; i < lines.length && !/^\s*-{5,}/.test(lines[i]); i++) {
        const f = nums(lines[i]);
        if (f.length >= 6) {
          atomicNumbers.push(f[1]);
          coordinates.push([f[3], f[4], f[5]]);
        }
      }
      break;
    }
  }
  let block: NormalMode[] = [];
  for (; i < lines.length; i++) {
    const l = lines[i];
    const m = /^\s*([A-Za-z. ]+?)\s*--\s*(.*)$/.exec(l);
    if (m) {
      const key = m[1].trim();
      const vals = nums(m[2]);
      if (key === 'Frequencies') {
        block = vals.map((frequency) => ({ frequency, intensity: null, reducedMass: null, displacements: [] }));
        modes.push(...block);
      } else if (key === 'IR Inten') vals.forEach((v, k) => block[k] && (block[k].intensity = v));
      else if (key === 'Red. masses') vals.forEach((v, k) => block[k] && (block[k].reducedMass = v));
      continue;
    }
    if (/^\s*Atom\s+AN/.test(l)) {
      for (i++; i < lines.length; i++) {
        const f = nums(lines[i]);
        if (f.length < 5 || !Number.isInteger(f[0]) || Number.isNaN(f[2])) {
          i--;
          break;
        }
        for (let k = 0; k < block.length; k++) {
          const o = 2 + 3 * k;
          if (f.length >= o + 3) block[k].displacements.push([f[o], f[o + 1], f[o + 2]]);
        }
      }
    }
  }
  return { atomicNumbers, coordinates, modes };
}

/** an XYZ frame with displacement columns (3Dmol.js reads them as dx dy dz) */
export function modeXyz(symbols: string[], coords: [number, number, number][], disp: [number, number, number][]): string {
  const out = [String(symbols.length), 'mode'];
  for (let k = 0; k < symbols.length; k++) {
    const c = coords[k];
    const d = disp[k] ?? [0, 0, 0];
    out.push(`${symbols[k]} ${c[0]} ${c[1]} ${c[2]} ${d[0]} ${d[1]} ${d[2]}`);
  }
  return out.join('\n') + '\n';
}

/** an IR spectrum: Lorentzian lines of full width `fwhm` summed on a grid */
export function broaden(freqs: number[], intens: number[], fwhm = 20, from = 0, to = 4000, step = 4): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  const g = fwhm / 2;
  for (let w = from; w <= to; w += step) {
    let s = 0;
    for (let k = 0; k < freqs.length; k++) {
      if (freqs[k] < 10) continue;
      const d = w - freqs[k];
      s += (intens[k] ?? 0) * (g * g) / (d * d + g * g);
    }
    x.push(w);
    y.push(s);
  }
  return { x, y };
}
