#!/usr/bin/python3
"""RDKit's Python on each SMILES argument, as a chemist would search
conformers: ETKDGv3 (randomSeed 0x5eed, pruneRmsThresh 0.5), N conformers,
MMFFOptimizeMoleculeConfs (maxIters 2000; Python's defaults otherwise).
Prints per SMILES one JSON line: the lowest converged energy, and the
unspecified stereo of Chem.FindPotentialStereo (1-based atoms)."""
import json
import sys

from rdkit import Chem
from rdkit.Chem import AllChem

n = int(sys.argv[1])
for smi in sys.argv[2:]:
    mol = Chem.AddHs(Chem.MolFromSmiles(smi))
    p = AllChem.ETKDGv3()
    p.randomSeed = 0x5EED
    p.pruneRmsThresh = 0.5
    AllChem.EmbedMultipleConfs(mol, n, p)
    res = AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=2000)
    energies = sorted(e for c, e in res if c == 0)
    heavy = Chem.MolFromSmiles(smi)
    centres, bonds = [], []
    for si in Chem.FindPotentialStereo(heavy):
        if str(si.specified) != "Unspecified":
            continue
        if str(si.type) == "Atom_Tetrahedral":
            centres.append(si.centeredOn + 1)
        elif str(si.type) == "Bond_Double":
            b = heavy.GetBondWithIdx(si.centeredOn)
            bonds.append([b.GetBeginAtomIdx() + 1, b.GetEndAtomIdx() + 1])
    print(json.dumps({"smiles": smi, "lowest": energies[0], "centres": centres, "bonds": bonds}))
