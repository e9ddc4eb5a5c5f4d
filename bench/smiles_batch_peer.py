#!/usr/bin/python3
"""The peer of bench/smiles-batch: what a chemist writes with RDKit's Python.

smiles_batch_peer.py SMILES_FILE OUT_DIR PROCESSES
  ETKDGv3 (randomSeed 0x5eed, as qforge's first try) + MMFF94 with RDKit
  Python's defaults, one XYZ file per SMILES (OUT_DIR/NNNN.xyz), over a
  multiprocessing pool of PROCESSES (1: a plain loop, the single-core rate).
  Prints: embedded N failed M seconds S
"""
import os
import sys
import time
from multiprocessing import Pool

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

RDLogger.DisableLog("rdApp.*")


def embed(job):
    index, smiles, out = job
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return False
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = 0x5EED
    if AllChem.EmbedMolecule(mol, params) != 0:
        return False
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    conf = mol.GetConformer()
    lines = [str(mol.GetNumAtoms()), smiles]
    for atom in mol.GetAtoms():
        p = conf.GetAtomPosition(atom.GetIdx())
        lines.append(f"{atom.GetSymbol():2s} {p.x:16.10f} {p.y:16.10f} {p.z:16.10f}")
    with open(os.path.join(out, f"{index:04d}.xyz"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return True


def main():
    path, out, procs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    jobs = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            jobs.append((len(jobs) + 1, line.split()[0], out))
    t0 = time.monotonic()
    if procs == 1:
        ok = [embed(j) for j in jobs]
    else:
        with Pool(procs) as pool:
            ok = pool.map(embed, jobs, chunksize=1)
    t = time.monotonic() - t0
    print(f"embedded {sum(ok)} failed {len(ok) - sum(ok)} seconds {t:.3f}")


if __name__ == "__main__":
    main()
