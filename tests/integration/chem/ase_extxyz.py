#!/usr/bin/python3
"""Reference for tests/integration/chem/test_extxyz_ase.c: writes extended
XYZ files with ASE (ase.io.write, format='extxyz') into DIR, reads each back
with ase.io.read(path, index=':') and prints one JSON object per file:
{"path", "frames": [{"name" (info's, or null), "z", "xyz", "periodic"}]},
"periodic" meaning the frame has a cell (Lattice=) or any true pbc.

usage: ase_extxyz.py DIR
"""
import json
import os
import sys

import numpy as np
import ase.io
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator


def with_results(atoms, rng):
    """Energy and forces as a calculation leaves them (columns after pos)."""
    atoms.calc = SinglePointCalculator(
        atoms, energy=float(rng.normal()), forces=rng.normal(size=(len(atoms), 3)))
    return atoms


def files(rng):
    water = molecule('H2O')
    water.info['name'] = 'water "dimer" \u00e9'
    water.set_initial_charges([-0.8, 0.4, 0.4])
    water.arrays['dipoles'] = rng.normal(size=(3, 3))
    yield 'water.xyz', [with_results(water, rng)]

    # no name: the reader names the frames after the file
    traj = []
    for name in ('CH3CH2OH', 'C6H6', 'NH3', 'CH3COOH'):
        a = molecule(name)
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        traj.append(with_results(a, rng))
    yield 'traj.xyz', traj
    yield 'single.xyz', [molecule('CH4')]

    # periodic frames between molecules, info of every type
    methane = molecule('CH4')
    methane.info.update(name='methane', flag=True, vec=np.array([1.0, 2.0, 3.0]),
                        text='a=b "c"', count=3)
    methane.set_tags([1, 0, 0, 0, 2])
    crystal = molecule('H2O')
    crystal.cell = [10.0, 11.0, 12.0]
    crystal.pbc = True
    boxed = molecule('NH3')  # a cell with pbc F F F: ASE writes Lattice=
    boxed.cell = [20.0, 20.0, 20.0]
    slab = molecule('CO')
    slab.cell = [0.0, 0.0, 5.0]
    slab.pbc = [False, False, True]
    loose = molecule('CO2')
    loose.pbc = False
    yield 'mixed.xyz', [methane, crystal, boxed, slab, loose,
                        with_results(molecule('HCN'), rng)]


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(14)
    for fname, frames in files(rng):
        path = os.path.join(out, fname)
        ase.io.write(path, frames, format='extxyz')
        back = []
        for a in ase.io.read(path, index=':'):
            name = a.info.get('name')
            back.append({
                'name': name if isinstance(name, str) else None,
                'z': [int(z) for z in a.numbers],
                'xyz': [float(x) for x in a.positions.ravel()],
                'periodic': bool(a.cell.any() or a.pbc.any()),
            })
        print(json.dumps({'path': path, 'frames': back}))


if __name__ == '__main__':
    main()
