import { describe, expect, it } from 'vitest';
import { buildSpec, fieldOfMessage } from './spec';
import { chargeColor, countRecords, formatFromName, sniffFormat, toXyz } from './chem';
import { broaden, modeXyz, parseG98 } from './g98';
import { DEFAULT_PARAMS } from '../state/ui';
import { orderArg } from '../views/Calculations';

describe('spec', () => {
  it('sends the level only for optimisations, the solvent only with a model', () => {
    expect(buildSpec(DEFAULT_PARAMS)).toEqual({ method: 'gfn2', task: 'sp', charge: 0, uhf: 0 });
    expect(buildSpec({ ...DEFAULT_PARAMS, task: 'opt', level: 'tight', solvation: 'alpb', solvent: ' water ' })).toEqual({ method: 'gfn2', task: 'opt', level: 'tight', alpb: 'water', charge: 0, uhf: 0 });
    expect(buildSpec({ ...DEFAULT_PARAMS, solvation: 'gbsa', solvent: 'dmso' }).gbsa).toBe('dmso');
  });
  it('puts a server message next to the field it is about', () => {
    expect(fieldOfMessage("invalid value 'gfn9' for method: expected gfn0, gfn1, gfn2 or gfnff")).toBe('method');
    expect(fieldOfMessage('unknown solvent for alpb: lava')).toBe('solvent');
    expect(fieldOfMessage('uhf must be at least 0')).toBe('uhf');
    expect(fieldOfMessage('odd number of electrons with charge 0')).toBe('charge');
    expect(fieldOfMessage('something else')).toBe('general');
  });
  it('sorts on the server, time within the page', () => {
    expect(orderArg({ sort: 'total_energy', desc: true })).toBe('-total_energy');
    expect(orderArg({ sort: 'status', desc: false })).toBe('status');
    expect(orderArg({ sort: 'wall', desc: true })).toBe('-created_at');
  });
});

describe('chem', () => {
  it('knows formats by name and by look', () => {
    expect(formatFromName('a.XYZ')).toBe('xyz');
    expect(formatFromName('a.sdf')).toBe('sdf');
    expect(formatFromName('a.smi')).toBe('smiles');
    expect(formatFromName('a.pdb')).toBeNull();
    expect(sniffFormat('3\nwater\nO 0 0 0')).toBe('xyz');
    expect(sniffFormat('CCO')).toBe('smiles');
    expect(sniffFormat('x\n  RDKit\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n')).toBe('sdf');
  });
  it('counts the molecules of a multi-molecule file', () => {
    const w = '3\nw\nO 0 0 0\nH 0 0 1\nH 0 1 0\n';
    expect(countRecords(w + w + w, 'xyz')).toBe(3);
    expect(countRecords('CCO\nc1ccccc1\n\n# comment\nO\n', 'smiles')).toBe(3);
    expect(countRecords('a\n$$$$\nb\n$$$$\n', 'sdf')).toBe(2);
  });
  it('writes XYZ', () => {
    expect(toXyz([8, 1], [[0, 0, 0], [0, 0, 0.96]], 't')).toBe('2\nt\nO 0.000000 0.000000 0.000000\nH 0.000000 0.000000 0.960000\n');
  });
  it('colours charges red to white to blue', () => {
    expect(chargeColor(0)).toBe('#ffffff');
    expect(chargeColor(-5)).toBe('#d62728');
    expect(chargeColor(5)).toBe('#1f77b4');
  });
});

const G98 = ` Entering Gaussian System
                         Standard orientation:
 --------------------------------------------------------------------
  Center     Atomic     Atomic              Coordinates (Angstroms)
  Number     Number      Type              X           Y           Z
 --------------------------------------------------------------------
    1          8             0        0.000000    0.000000    0.117000
    2          1             0        0.000002    0.756999   -0.467001
    3          1             0       -0.000006   -0.757001   -0.466999
 --------------------------------------------------------------------
                      1                      2                      3
                        a                      a                      a
 Frequencies --  1450.2372              3688.3734              3701.1734
 Red. masses --     2.1105                 2.1054                 1.5829
 Frc consts  --     0.0000                 0.0000                 0.0000
 IR Inten    --   198.5026               119.4422                35.5707
 Atom AN      X      Y      Z        X      Y      Z        X      Y      Z
   1   8     0.00   0.00   0.27    -0.00  -0.27   0.00    -0.00  -0.00  -0.20
   2   1    -0.00  -0.41  -0.54     0.00   0.54  -0.42    -0.00  -0.57   0.39
   3   1     0.00   0.41  -0.54     0.00   0.54   0.42     0.00   0.57   0.39
`;

describe('g98.out', () => {
  it('reads the modes and their displacements', () => {
    const g = parseG98(G98);
    expect(g.atomicNumbers).toEqual([8, 1, 1]);
    expect(g.coordinates[1]).toEqual([0.000002, 0.756999, -0.467001]);
    expect(g.modes.map((m) => m.frequency)).toEqual([1450.2372, 3688.3734, 3701.1734]);
    expect(g.modes[0].intensity).toBe(198.5026);
    expect(g.modes[2].reducedMass).toBe(1.5829);
    expect(g.modes[1].displacements).toEqual([[-0, -0.27, 0], [0, 0.54, -0.42], [0, 0.54, 0.42]]);
    expect(modeXyz(['O', 'H', 'H'], g.coordinates, g.modes[0].displacements).split('\n')[2]).toBe('O 0 0 0.117 0 0 0.27');
  });
  it('broadens sticks into Lorentzians of the width asked', () => {
    const b = broaden([1000], [100], 20, 900, 1100, 10);
    const at = (w: number) => b.y[b.x.indexOf(w)];
    expect(at(1000)).toBeCloseTo(100, 6);
    expect(at(1010)).toBeCloseTo(50, 6);
    expect(at(990)).toBeCloseTo(50, 6);
  });
});
