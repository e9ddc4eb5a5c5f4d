#!/usr/bin/python3
"""Read an export back with its own ecosystem's reader and compare it with
the job directories' metadata.json (what xtb produced, independent of the
store and of the exporter).

  check_export.py FORMAT FILE JOBS_ROOT EXPECTED_ROWS

FORMAT: extxyz (ASE), sdf (RDKit), hdf5 (h5py, walked as TorchANI's loader
does), qcschema (json), csv (csv module), jsonl (json). Prints "ok N" and
exits 0, or prints what differs and exits 1.
"""
import csv
import json
import math
import os
import sys

HARTREE_EV = 27.211386245988
BOHR_A = 0.529177210903
fmt, path, jobs_root, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def job(calc_id):
    with open(os.path.join(jobs_root, calc_id, "metadata.json")) as f:
        return json.load(f)


def close(a, b, tol, what):
    if a is None or b is None or abs(a - b) > tol * max(1.0, abs(b)):
        sys.exit("%s: %r != %r" % (what, a, b))


def check_atoms(calc_id, symbols, pos, charges=None, forces=None, force_unit=1.0, sort=False):
    r = job(calc_id)["results"]
    from ase.data import chemical_symbols
    want_sym = [chemical_symbols[z] for z in r["atomic_numbers"]]
    want_pos = r["geometry_angstrom"]
    want_q = r.get("partial_charges")
    grad = r.get("gradient_hartree_per_bohr")
    idx = list(range(len(want_sym)))
    if sort:  # atoms sorted by atomic number, stable (the HDF5 layout)
        idx.sort(key=lambda i: r["atomic_numbers"][i])
    if list(symbols) != [want_sym[i] for i in idx]:
        sys.exit("%s: symbols differ" % calc_id)
    for k, i in enumerate(idx):
        for c in range(3):
            close(float(pos[k][c]), want_pos[i][c], 1e-4 if fmt == "sdf" else 1e-9, "%s position" % calc_id)
            if forces is not None and grad is not None:
                close(float(forces[k][c]), -grad[i][c] * force_unit, 1e-9, "%s force" % calc_id)
        if charges is not None and want_q is not None:
            close(float(charges[k]), want_q[i], 1e-9, "%s charge" % calc_id)
    return r


n = 0
if fmt == "extxyz":
    import ase.io
    for a in ase.io.read(path, index=":", format="extxyz"):
        cid = a.info["calculation_id"]
        r = check_atoms(cid, a.get_chemical_symbols(), a.get_positions(),
                        a.calc.results.get("charges") if a.calc else None,
                        a.get_forces() if a.calc and "forces" in a.calc.results else None,
                        HARTREE_EV / BOHR_A)
        close(a.get_potential_energy(), r["total_energy_hartree"] * HARTREE_EV, 1e-12, cid + " energy")
        close(a.info["total_energy_hartree"], r["total_energy_hartree"], 1e-12, cid + " energy/Eh")
        close(a.info["homo_lumo_gap_ev"], r["homo_lumo_gap_ev"], 1e-9, cid + " gap")
        if "molecular_weight_g_mol" not in a.info:
            sys.exit(cid + ": no descriptors in the frame")
        n += 1
elif fmt == "sdf":
    from rdkit import Chem
    for m in Chem.SDMolSupplier(path, removeHs=False):
        if m is None:
            sys.exit("RDKit could not read a record")
        cid = m.GetProp("calculation_id")
        conf = m.GetConformer()
        pos = [list(conf.GetAtomPosition(i)) for i in range(m.GetNumAtoms())]
        charges = m.GetProp("partial_charges_e").split() if m.HasProp("partial_charges_e") else None
        r = check_atoms(cid, [a.GetSymbol() for a in m.GetAtoms()], pos, charges)
        if any(a.GetTotalNumHs() for a in m.GetAtoms()):
            sys.exit(cid + ": RDKit added hydrogens to the atoms")
        close(float(m.GetProp("total_energy_hartree")), r["total_energy_hartree"], 1e-12, cid + " energy")
        n += 1
elif fmt == "hdf5":
    import h5py
    with h5py.File(path, "r") as f:
        def walk(g):
            # as torchani.data's loader: every group holding 'species' is a molecule set
            for k, v in g.items():
                if isinstance(v, h5py.Group):
                    if "species" in v:
                        yield k, v
                    else:
                        yield from walk(v)
        for formula, g in walk(f):
            species = [s.decode() for s in g["species"][()]]
            for c in range(g["coordinates"].shape[0]):
                cid = g["calculation_ids"][c].decode()
                forces = g["forces"][c]
                has = not math.isnan(forces[0][0])
                r = check_atoms(cid, species, g["coordinates"][c], None,
                                forces if has else None, 1.0 / BOHR_A, sort=True)
                close(float(g["energies"][c]), r["total_energy_hartree"], 1e-12, cid + " energy")
                if job(cid)["molecule"]["formula"] != formula:
                    sys.exit(cid + ": in group " + formula)
                n += 1
elif fmt == "qcschema":
    docs = json.load(open(path))
    for d in docs:
        assert d["schema_name"] == "qcschema_output" and d["schema_version"] == 1
        assert d["molecule"]["schema_name"] == "qcschema_molecule" and d["success"] is True
        cid = d["id"]
        g = d["molecule"]["geometry"]
        pos = [[g[3 * i + k] * BOHR_A for k in range(3)] for i in range(len(g) // 3)]
        grad = d["return_result"] if d["driver"] == "gradient" else None
        forces = [[-grad[3 * i + k] for k in range(3)] for i in range(len(pos))] if grad else None
        r = check_atoms(cid, d["molecule"]["symbols"], pos, d["extras"]["qforge"].get("partial_charges_e"),
                        forces)
        close(d["properties"]["return_energy"], r["total_energy_hartree"], 1e-12, cid + " energy")
        m = job(cid)["molecule"]
        assert d["molecule"]["molecular_charge"] == m["charge"]
        assert d["molecule"]["molecular_multiplicity"] == m["uhf"] + 1
        assert d["model"]["method"] == job(cid)["metrics"]["method"], d["model"]["method"]
        n += 1
elif fmt in ("csv", "jsonl"):
    rows = list(csv.DictReader(open(path, newline=""))) if fmt == "csv" else [json.loads(l) for l in open(path)]
    for row in rows:
        cid = row["id"]
        r = job(cid)["results"]
        close(float(row["total_energy_hartree"]), r["total_energy_hartree"], 1e-12, cid + " energy")
        close(float(row["homo_lumo_gap_ev"]), r["homo_lumo_gap_ev"], 1e-12, cid + " gap")
        n += 1
else:
    sys.exit("unknown format " + fmt)
if n != expected:
    sys.exit("%d rows, expected %d" % (n, expected))
print("ok", n)
