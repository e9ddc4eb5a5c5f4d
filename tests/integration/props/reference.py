#!/usr/bin/python3
"""RDKit's own Python descriptors, the reference for `qforge props`.

  reference.py smi FILE        one JSON line per SMILES line ("SMILES name")
  reference.py sdf FILE        one JSON line per SDF record
  reference.py embed FILE OUT  3D geometries of the SMILES of FILE (ETKDGv3,
                               MMFF94) as a multi-frame XYZ file OUT, and one
                               JSON line per molecule: the descriptors of the
                               SMILES it was embedded from

Keys as `qforge props --json`; a record RDKit cannot read prints
{"name": ..., "error": ...}.
"""
import json
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, Descriptors

RDLogger.DisableLog("rdApp.*")


def describe(mol, name):
    return {
        "name": name,
        "canonical_smiles": Chem.MolToSmiles(mol),
        "molecular_weight": Descriptors.MolWt(mol),
        "logp": Descriptors.MolLogP(mol),
        "hydrogen_bond_donors": Descriptors.NumHDonors(mol),
        "hydrogen_bond_acceptors": Descriptors.NumHAcceptors(mol),
        "rotatable_bonds": Descriptors.NumRotatableBonds(mol),
        "topological_polar_surface_area": Descriptors.TPSA(mol),
        "molar_refractivity": Descriptors.MolMR(mol),
    }


def smiles_lines(path):
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        yield parts[0], (parts[1].strip() if len(parts) > 1 else parts[0])


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "smi":
        for smi, name in smiles_lines(path):
            mol = Chem.MolFromSmiles(smi)
            print(json.dumps(describe(mol, name) if mol else {"name": name, "error": "rdkit"}))
    elif mode == "sdf":
        for i, mol in enumerate(Chem.SDMolSupplier(path)):
            name = mol.GetProp("_Name") if mol else str(i + 1)
            print(json.dumps(describe(mol, name) if mol else {"name": name, "error": "rdkit"}))
    elif mode == "embed":
        with open(sys.argv[3], "w") as out:
            for smi, name in smiles_lines(path):
                mol = Chem.MolFromSmiles(smi)
                h = Chem.AddHs(mol)
                params = AllChem.ETKDGv3()
                params.randomSeed = 0x5EED
                if AllChem.EmbedMolecule(h, params) < 0:
                    continue
                AllChem.MMFFOptimizeMolecule(h, maxIters=2000, nonBondedThresh=100.0)
                block = Chem.MolToXYZBlock(h).split("\n")
                block[1] = name
                out.write("\n".join(block).rstrip("\n") + "\n")
                print(json.dumps(describe(mol, name)))
    else:
        sys.exit("unknown mode " + mode)


main()
