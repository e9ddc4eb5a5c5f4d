#!/usr/bin/python3
"""Checks 3D structures made by qforge against RDKit's own Python.

  mmff_check.py IN.jsonl MIN_CONTACT MAX_TRIES

IN holds one JSON object per line: {"smiles": the SMILES as given, "z": [...],
"xyz": [x0, y0, z0, x1, ...]} in RDKit's atom order (MolFromSmiles, then
AddHs, as src/chem/rdkit.cpp reads them). For each, one JSON line:

  elements_match  the atoms are those of AddHs(MolFromSmiles(smiles))
  e_given         MMFF94 energy of the given structure with the force field
                  of RDKit Python's defaults (MMFFGetMoleculeForceField:
                  nonBondedThresh 100, no inter-fragment terms), kcal/mol
                  (UFF's, vdwThresh 10, when MMFF has no parameters)
  e_minimised     the same after minimising it further (2000 iterations)
  converged       that minimisation converged
  min_contact     closest two atoms three or more bonds apart (or in
                  different fragments), Angstrom
  stereo          "" when the CIP labels and E/Z perceived back from the
                  given structure (AssignStereochemistryFrom3D) are the
                  SMILES's wherever the SMILES specifies them, else what
                  differs
  max_dev         largest distance between an atom of the given structure
                  and of Python's own embedding done as src/chem/rdkit.cpp
                  does it (ETKDGv3 from seed 0x5eed + k, k < MAX_TRIES, MMFF
                  clean-up with 2000 iterations and nonBondedThresh 100,
                  fragments moved apart; the first try that converged, has
                  no contact below MIN_CONTACT and keeps the stereo),
                  Angstrom
  python_try      that try (0-based)
"""
import json
import sys

import numpy as np
from rdkit import Chem, ForceField, RDLogger  # noqa: F401 (ForceField: see notes)
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

RDLogger.DisableLog("rdApp.*")

SEED = 0x5EED
FRAGMENT_GAP = 4.0


def force_field(mol):
    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is not None:
        return AllChem.MMFFGetMoleculeForceField(mol, props)
    return AllChem.UFFGetMoleculeForceField(mol)


def min_contact(mol):
    x = mol.GetConformer().GetPositions()
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    topo = Chem.GetDistanceMatrix(mol)  # 1e8 between fragments
    d[topo < 3] = np.inf
    return float(d.min()) if np.isfinite(d).any() else None


def separate_fragments(mol):
    frags = Chem.GetMolFrags(mol)
    if len(frags) < 2:
        return
    conf = mol.GetConformer()
    placed = -1e300
    for f, atoms in enumerate(frags):
        xs = [conf.GetAtomPosition(i).x for i in atoms]
        shift = 0.0 if f == 0 else placed + FRAGMENT_GAP - min(xs)
        for i in atoms:
            p = conf.GetAtomPosition(i)
            conf.SetAtomPosition(i, Point3D(p.x + shift, p.y, p.z))
        placed = max(placed, max(xs) + shift)


def specified_stereo(mol):
    centres = {a.GetIdx(): a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")}
    bonds = {b.GetIdx(): str(b.GetStereo()) for b in mol.GetBonds()
             if b.GetStereo() in (Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOZ)}
    return centres, bonds


def stereo_difference(smiles, mol):
    want_c, want_b = specified_stereo(Chem.MolFromSmiles(smiles))
    m = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(m)
    got_c, got_b = specified_stereo(m)
    diff = ["atom %d: %s, not %s" % (i + 1, got_c.get(i), c) for i, c in want_c.items() if got_c.get(i) != c]
    diff += ["bond %d: %s, not %s" % (i + 1, got_b.get(i), b) for i, b in want_b.items() if got_b.get(i) != b]
    return "; ".join(diff)


def python_embedding(smiles, limit, tries):
    for k in range(tries):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        params = AllChem.ETKDGv3()
        params.randomSeed = SEED + k
        if AllChem.EmbedMolecule(mol, params) < 0:
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(mol, params) < 0:
                continue
        if AllChem.MMFFHasAllMoleculeParams(mol):
            rc = AllChem.MMFFOptimizeMolecule(mol, maxIters=2000, nonBondedThresh=100.0)
        else:
            rc = AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
        if rc != 0:
            continue
        separate_fragments(mol)
        contact = min_contact(mol)
        if contact is not None and contact < limit:
            continue
        if stereo_difference(smiles, mol):
            continue
        return mol.GetConformer().GetPositions(), k
    return None, None


def check(rec, limit, tries):
    out = {"smiles": rec["smiles"]}
    mol = Chem.AddHs(Chem.MolFromSmiles(rec["smiles"]))
    z = [a.GetAtomicNum() for a in mol.GetAtoms()]
    out["elements_match"] = z == rec["z"]
    if not out["elements_match"]:
        return out
    xyz = np.array(rec["xyz"], dtype=float).reshape(-1, 3)
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(xyz):
        conf.SetAtomPosition(i, Point3D(*p))
    mol.AddConformer(conf, assignId=True)
    out["min_contact"] = min_contact(mol)
    out["stereo"] = stereo_difference(rec["smiles"], mol)
    ff = force_field(mol)
    out["e_given"] = ff.CalcEnergy()
    out["converged"] = ff.Minimize(maxIts=2000) == 0
    out["e_minimised"] = ff.CalcEnergy()
    ref, out["python_try"] = python_embedding(rec["smiles"], limit, tries)
    out["max_dev"] = None if ref is None else float(np.linalg.norm(ref - xyz, axis=1).max())
    return out


def main():
    limit, tries = float(sys.argv[2]), int(sys.argv[3])
    for line in open(sys.argv[1]):
        if line.strip():
            print(json.dumps(check(json.loads(line), limit, tries)), flush=True)


if __name__ == "__main__":
    main()
