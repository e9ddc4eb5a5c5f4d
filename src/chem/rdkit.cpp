/*
 * The only C++ in Quantum Forge: an extern "C" shim over RDKit, built as the
 * module qforge-rdkit.so and loaded on the first SMILES (src/chem/
 * rdkit_module.h says why and what crosses).
 *
 * SMILES -> 3D molecule: parse (sanitised), add hydrogens, embed with ETKDGv3
 * and a fixed seed (the same SMILES always gives the same geometry), clean up
 * with MMFF94 (UFF when MMFF lacks parameters) with every non-bonded term,
 * then check the result: the minimiser converged and no two atoms three or
 * more bonds apart are closer than QF_EMBED_MIN_CONTACT_A, and the
 * stereochemistry perceived back from 3D (CIP labels, E/Z) is the SMILES's
 * where the SMILES specifies it. A structure that fails is embedded again
 * from the next seed, up to QF_EMBED_MAX_TRIES.
 * Charge from the formal charges, unpaired electrons from the radical
 * electrons, canonical SMILES from the heavy-atom graph.
 *
 * RDKit reports parse errors through its error log, not exceptions; the log
 * is pointed at a string for the duration of the call (under a mutex: the
 * loggers are process-global) so the message reaches the user's qf_err and
 * nothing is printed on stderr.
 */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/Descriptors/Lipinski.h>
#include <GraphMol/Descriptors/MolDescriptors.h>
#include <GraphMol/Descriptors/MolSurf.h>
#include <GraphMol/Chirality.h>
#include <GraphMol/DistGeomHelpers/Embedder.h>
#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/ForceFieldHelpers/MMFF/MMFF.h>
#include <GraphMol/ForceFieldHelpers/UFF/UFF.h>
#include <GraphMol/GraphMol.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/RDLog.h>

extern "C" {
#include "qf/limits.h"
#include "rdkit_module.h"
}

namespace {

/* Seed of the first ETKDG embedding: fixed so a SMILES always embeds
 * identically; try k (0-based) uses kEmbedSeed + k. */
constexpr int kEmbedSeed = 0x5eed;
/* Force-field clean-up iterations (RDKit's default is 200; more for rings).
 * A clean-up that has not converged after them is a failed try. */
constexpr int kForceFieldIterations = 2000;
/* Non-bonded cut-offs of the clean-up, RDKit Python's defaults (C++'s
 * MMFFOptimizeMolecule defaults nonBondedThresh to 10.0 instead). MMFF's is
 * a distance in Angstrom at the start: with 10.0, pairs that start further
 * apart get no term and can fall into each other while minimising
 * (bench/data/chembl-drug-like.smi record 152: an O and an H 0.364 A apart,
 * -220.6 kcal/mol in the truncated force field, -79.1 at the real minimum
 * of the complete one). UFF's is a multiple of each pair's van der Waals
 * distance (10 x ~4 A): measured on Sn, Se/B and Si/Te molecules 27-34 A
 * long that MMFF has no parameters for, 10.0, 100.0 and 1e9 give the same
 * energy at the embedded geometry and the same minimum, so Python's 10.0
 * drops nothing there. */
constexpr double kMMFFNonBondedThresh = 100.0;
constexpr double kUFFVdwThresh = 10.0;

std::mutex log_mutex;

/* Points RDKit's error and warning logs at a string while alive. */
class LogCapture {
      public:
	LogCapture() : lock_(log_mutex)
	{
		static std::once_flag once;
		std::call_once(once, [] {
			if (!rdErrorLog || !rdWarningLog)
				RDLog::InitLogs();
		});
		swap(rdErrorLog, err_dest_, err_enabled_);
		swap(rdWarningLog, warn_dest_, warn_enabled_);
	}
	~LogCapture()
	{
		restore(rdErrorLog, err_dest_, err_enabled_);
		restore(rdWarningLog, warn_dest_, warn_enabled_);
	}
	/* First error line, without RDKit's "[hh:mm:ss] " prefix. */
	std::string first_error() const
	{
		std::string s = errors_.str();
		size_t nl = s.find('\n');
		if (nl != std::string::npos)
			s.resize(nl);
		if (!s.empty() && s[0] == '[') {
			size_t close = s.find("] ");
			if (close != std::string::npos)
				s.erase(0, close + 2);
		}
		return s;
	}

      private:
	void swap(RDLogger &log, std::ostream *&saved, bool &enabled)
	{
		saved = nullptr;
		if (!log)
			return;
		saved = log->dp_dest;
		enabled = log->df_enabled;
		log->dp_dest = &errors_;
		log->df_enabled = true;
	}
	static void restore(RDLogger &log, std::ostream *saved, bool enabled)
	{
		if (!log)
			return;
		log->dp_dest = saved;
		log->df_enabled = enabled;
	}
	std::lock_guard<std::mutex> lock_;
	std::ostringstream errors_;
	std::ostream *err_dest_ = nullptr, *warn_dest_ = nullptr;
	bool err_enabled_ = false, warn_enabled_ = false;
};

/* Separation between the closest atoms of two fragments (salts, solvates)
 * after embedding: ETKDG embeds disconnected fragments independently and may
 * put them on top of each other (Na+ 0.64 A from a methyl carbon). */
constexpr double kFragmentGap = 4.0;

/* Move every fragment after the first along +x so that it starts kFragmentGap
 * beyond the ones placed before it. */
void separate_fragments(RDKit::RWMol &mol, int conf_id)
{
	std::vector<int> frag_of;
	unsigned nfrags = RDKit::MolOps::getMolFrags(mol, frag_of);
	if (nfrags < 2)
		return;
	RDKit::Conformer &conf = mol.getConformer(conf_id);
	double placed_max_x = -1e300;
	for (unsigned f = 0; f < nfrags; f++) {
		double min_x = 1e300, max_x = -1e300;
		for (unsigned i = 0; i < mol.getNumAtoms(); i++) {
			if (frag_of[i] != static_cast<int>(f))
				continue;
			double x = conf.getAtomPos(i).x;
			min_x = std::min(min_x, x);
			max_x = std::max(max_x, x);
		}
		double shift = f == 0 ? 0.0 : placed_max_x + kFragmentGap - min_x;
		for (unsigned i = 0; i < mol.getNumAtoms(); i++) {
			if (frag_of[i] != static_cast<int>(f))
				continue;
			RDGeom::Point3D p = conf.getAtomPos(i);
			p.x += shift;
			conf.setAtomPos(i, p);
		}
		placed_max_x = std::max(placed_max_x, max_x + shift);
	}
}

/* Fills out's failure fields; -1. */
int fail(qf_rdkit_out *out, const char *code, const std::string &message)
{
	std::snprintf(out->code, sizeof(out->code), "%s", code);
	std::snprintf(out->message, sizeof(out->message), "%s", message.c_str());
	return -1;
}

/* The SMILES as messages show it: cut after 60 characters. */
std::string shown_smiles(const char *smiles)
{
	std::string shown(smiles);
	if (shown.size() >= 64)
		shown = shown.substr(0, 60) + "...";
	return shown;
}

int smiles_error(qf_rdkit_out *out, const char *smiles, const std::string &why)
{
	return fail(out, "input.smiles",
	            "could not parse SMILES '" + shown_smiles(smiles) + "': " +
	                (why.empty() ? "RDKit rejected it" : why));
}

/* The stereochemistry a molecule specifies: CIP labels of its tetrahedral
 * centres and E/Z of its double bonds, by atom and bond index (hydrogens
 * added later take indices after these, so the indices hold). */
struct Stereo {
	std::vector<std::pair<unsigned, std::string>> centres;
	std::vector<std::pair<unsigned, RDKit::Bond::BondStereo>> bonds;
};

/* What assignStereochemistry left on mol (the SMILES parser runs it). */
Stereo stereo_of(const RDKit::ROMol &mol)
{
	Stereo st;
	for (const auto atom : mol.atoms()) {
		std::string cip;
		if (atom->getPropIfPresent(RDKit::common_properties::_CIPCode, cip))
			st.centres.emplace_back(atom->getIdx(), cip);
	}
	for (const auto bond : mol.bonds()) {
		auto b = bond->getStereo();
		if (bond->getBondType() == RDKit::Bond::DOUBLE &&
		    (b == RDKit::Bond::STEREOE || b == RDKit::Bond::STEREOZ))
			st.bonds.emplace_back(bond->getIdx(), b);
	}
	return st;
}

/* Is the stereochemistry perceived back from conformer conf_id the one
 * wanted? "" when it is, else what differs. Centres and double bonds the
 * SMILES leaves unspecified may come out either way. */
std::string stereo_mismatch(const RDKit::RWMol &mol, int conf_id, const Stereo &wanted)
{
	if (wanted.centres.empty() && wanted.bonds.empty())
		return "";
	RDKit::RWMol copy(mol, false, conf_id);
	RDKit::MolOps::assignStereochemistryFrom3D(copy, conf_id, true);
	for (const auto &c : wanted.centres) {
		std::string got;
		const RDKit::Atom *a = copy.getAtomWithIdx(c.first);
		if (!a->getPropIfPresent(RDKit::common_properties::_CIPCode, got))
			got = "not a stereocentre";
		if (got != c.second)
			return "atom " + std::to_string(c.first + 1) + " (" + a->getSymbol() + ") is " + got +
			       " in 3D where the SMILES says " + c.second;
	}
	for (const auto &b : wanted.bonds) {
		const RDKit::Bond *bond = copy.getBondWithIdx(b.first);
		auto got = bond->getStereo();
		if (got != b.second) {
			const char *g = got == RDKit::Bond::STEREOE ? "E" : got == RDKit::Bond::STEREOZ ? "Z" : "neither E nor Z";
			return "the double bond between atoms " + std::to_string(bond->getBeginAtomIdx() + 1) +
			       " and " + std::to_string(bond->getEndAtomIdx() + 1) + " is " + g +
			       " in 3D where the SMILES says " + (b.second == RDKit::Bond::STEREOE ? "E" : "Z");
		}
	}
	return "";
}

/* Stereo the SMILES leaves open, as the JSON of qf_rdkit_out.stereo_json:
 * tetrahedral centres and double bonds RDKit finds possible but the SMILES
 * does not specify (Chem.FindPotentialStereo's Unspecified ones). */
std::string unspecified_stereo(const RDKit::ROMol &mol)
{
	RDKit::RWMol copy(mol);
	std::string centres, bonds;
	for (const auto &si : RDKit::Chirality::findPotentialStereo(copy, false, true)) {
		if (si.specified != RDKit::Chirality::StereoSpecified::Unspecified)
			continue;
		if (si.type == RDKit::Chirality::StereoType::Atom_Tetrahedral) {
			centres += (centres.empty() ? "" : ",") + std::to_string(si.centeredOn + 1);
		} else if (si.type == RDKit::Chirality::StereoType::Bond_Double) {
			const RDKit::Bond *b = copy.getBondWithIdx(si.centeredOn);
			bonds += (bonds.empty() ? "[" : ",[") + std::to_string(b->getBeginAtomIdx() + 1) + "," +
			         std::to_string(b->getEndAtomIdx() + 1) + "]";
		}
	}
	return "{\"unspecified_stereocentres\":[" + centres + "],\"unspecified_double_bonds\":[" +
	       bonds + "]}";
}

/* The parse/validation half of both entry points: SMILES -> sanitised
 * molecule with explicit hydrogens, canonical SMILES, charge and radicals
 * in out; the atom count checked against max_atoms. 0, or -1 with out's
 * failure fields set. */
int parse(const char *smiles, int max_atoms, qf_rdkit_out *out, std::unique_ptr<RDKit::RWMol> &mol,
          std::string &canonical, Stereo *wanted = nullptr)
{
	std::string why;
	{
		LogCapture capture;
		try {
			mol.reset(RDKit::SmilesToMol(smiles));
		} catch (const std::exception &e) {
			why = e.what();
		}
		if (!mol && why.empty())
			why = capture.first_error();
	}
	if (!mol)
		return smiles_error(out, smiles, why);
	if (mol->getNumAtoms() == 0)
		return smiles_error(out, smiles, "no atoms");
	for (const auto atom : mol->atoms()) {
		if (atom->getAtomicNum() < 1)
			return smiles_error(out, smiles, "dummy atoms (*) have no coordinates to compute");
	}

	int charge = 0, radicals = 0;
	try {
		out->stereo_json = strdup(unspecified_stereo(*mol).c_str());
		if (!out->stereo_json)
			throw std::bad_alloc();
		if (wanted)
			*wanted = stereo_of(*mol);
		canonical = RDKit::MolToSmiles(*mol);
		charge = RDKit::MolOps::getFormalCharge(*mol);
		for (const auto atom : mol->atoms())
			radicals += static_cast<int>(atom->getNumRadicalElectrons());
		RDKit::MolOps::addHs(*mol);
	} catch (const std::exception &e) {
		return smiles_error(out, smiles, e.what());
	}
	if (mol->getNumAtoms() > static_cast<unsigned>(max_atoms))
		return fail(out, "input.too_many_atoms",
		            "SMILES gives " + std::to_string(mol->getNumAtoms()) +
		                " atoms with hydrogens; the limit is " + std::to_string(max_atoms));
	out->charge = charge;
	out->uhf = radicals;
	return 0;
}

/* out's success fields from mol: elements, canonical SMILES, and the
 * coordinates of conformer conf_id (none when conf_id < 0). */
int take_atoms(const RDKit::RWMol &mol, int conf_id, const std::string &canonical, qf_rdkit_out *out)
{
	int n = static_cast<int>(mol.getNumAtoms());
	out->z = static_cast<int *>(std::malloc(static_cast<size_t>(n) * sizeof(int)));
	if (conf_id >= 0)
		out->xyz = static_cast<double *>(std::malloc(static_cast<size_t>(n) * 3 * sizeof(double)));
	out->canonical = strdup(canonical.c_str());
	if (!out->z || (conf_id >= 0 && !out->xyz) || !out->canonical) {
		out->out_of_memory = 1;
		return fail(out, "system.memory", "out of memory in the RDKit module");
	}
	for (int i = 0; i < n; i++) {
		out->z[i] = mol.getAtomWithIdx(static_cast<unsigned>(i))->getAtomicNum();
		if (conf_id < 0)
			continue;
		const RDGeom::Point3D &p = mol.getConformer(conf_id).getAtomPos(static_cast<unsigned>(i));
		out->xyz[3 * i + 0] = p.x;
		out->xyz[3 * i + 1] = p.y;
		out->xyz[3 * i + 2] = p.z;
	}
	out->natoms = n;
	return 0;
}

int check_only(const char *smiles, int max_atoms, qf_rdkit_out *out)
{
	std::unique_ptr<RDKit::RWMol> mol;
	std::string canonical;
	if (parse(smiles, max_atoms, out, mol, canonical))
		return -1;
	return take_atoms(*mol, -1, canonical, out);
}

/* Within two bonds of each other (the same atom, bonded, or 1-3)? */
bool within_two_bonds(const RDKit::ROMol &mol, unsigned i, unsigned j)
{
	if (i == j || mol.getBondBetweenAtoms(i, j))
		return true;
	for (const auto nbr : mol.atomNeighbors(mol.getAtomWithIdx(i)))
		if (mol.getBondBetweenAtoms(nbr->getIdx(), j))
			return true;
	return false;
}

/* The closest pair of atoms three or more bonds apart (or in different
 * fragments) of conformer conf_id closer than QF_EMBED_MIN_CONTACT_A: a
 * description of it, or "" when there is none. O(n^2) in distances, which
 * for QF_MAX_ATOMS is well below the cost of the embedding; the topology
 * is looked at only for the pairs that are close. */
std::string close_contact(const RDKit::ROMol &mol, int conf_id)
{
	const RDKit::Conformer &conf = mol.getConformer(conf_id);
	const double limit2 = QF_EMBED_MIN_CONTACT_A * QF_EMBED_MIN_CONTACT_A;
	unsigned n = mol.getNumAtoms(), bi = 0, bj = 0;
	double best2 = limit2;
	for (unsigned i = 0; i < n; i++) {
		const RDGeom::Point3D &p = conf.getAtomPos(i);
		for (unsigned j = i + 1; j < n; j++) {
			double d2 = (p - conf.getAtomPos(j)).lengthSq();
			if (d2 < best2 && !within_two_bonds(mol, i, j)) {
				best2 = d2;
				bi = i;
				bj = j;
			}
		}
	}
	if (best2 >= limit2)
		return "";
	char buf[160];
	std::snprintf(buf, sizeof(buf),
	              "atoms %u (%s) and %u (%s), three or more bonds apart, end %.3f A apart "
	              "(the limit is %.1f A)",
	              bi + 1, mol.getAtomWithIdx(bi)->getSymbol().c_str(), bj + 1,
	              mol.getAtomWithIdx(bj)->getSymbol().c_str(), std::sqrt(best2),
	              QF_EMBED_MIN_CONTACT_A);
	return buf;
}

/* The checks of a minimised conformer: finite, fragments apart, no close
 * contact, the SMILES's stereo. "" when it passes, else what failed. */
std::string check_conformer(RDKit::RWMol &mol, int conf_id, const Stereo &wanted, const char *ff)
{
	const RDKit::Conformer &conf = mol.getConformer(conf_id);
	for (unsigned i = 0; i < mol.getNumAtoms(); i++) {
		const RDGeom::Point3D &p = conf.getAtomPos(i);
		if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z))
			return std::string("the ") + ff + " clean-up gave non-finite coordinates";
	}
	separate_fragments(mol, conf_id);
	std::string why = close_contact(mol, conf_id);
	if (why.empty())
		why = stereo_mismatch(mol, conf_id, wanted);
	return why.empty() ? why : std::string("after the ") + ff + " clean-up " + why;
}

/* One try: embed from seed, clean up, separate the fragments, check. The
 * conformer id (with its force field and energy), or -1 with why set to
 * what failed. */
int embed_once(RDKit::RWMol &mol, int seed, const Stereo &wanted, std::string &why,
               const char *&ff, double &energy)
{
	RDKit::DGeomHelpers::EmbedParameters params = RDKit::DGeomHelpers::ETKDGv3;
	params.randomSeed = seed;
	int conf_id = RDKit::DGeomHelpers::EmbedMolecule(mol, params);
	if (conf_id < 0) {
		/* Large or strained systems: random starting coordinates embed
		 * where the eigenvalue start fails. */
		params.useRandomCoords = true;
		conf_id = RDKit::DGeomHelpers::EmbedMolecule(mol, params);
	}
	if (conf_id < 0) {
		why = "ETKDG found no coordinates";
		return -1;
	}
	/* MMFF answers -1 when it lacks parameters (metals, hypervalent
	 * atoms): UFF covers the periodic table. */
	ff = "MMFF94";
	auto res = RDKit::MMFF::MMFFOptimizeMolecule(mol, kForceFieldIterations, "MMFF94",
	                                             kMMFFNonBondedThresh, conf_id);
	if (res.first == -1) {
		ff = "UFF";
		res = RDKit::UFF::UFFOptimizeMolecule(mol, kForceFieldIterations, kUFFVdwThresh, conf_id);
	}
	if (res.first != 0) {
		why = std::string("the ") + ff + " clean-up did not converge in " +
		      std::to_string(kForceFieldIterations) + " iterations";
		return -1;
	}
	energy = res.second;
	why = check_conformer(mol, conf_id, wanted, ff);
	return why.empty() ? conf_id : -1;
}

/* Conformers closer in force-field energy than this after minimisation are
 * taken for the same minimum (ETKDG's RMSD pruning acts before it). */
constexpr double kSameMinimumKcal = 1e-3;
/* ETKDG's RMSD pruning of the starting conformers, Angstrom (heavy atoms). */
constexpr double kConformerPruneRms = 0.5;

/* out's conformer fields from the conformers kept (id, energy), lowest
 * first. */
int take_conformers(const RDKit::RWMol &mol, const std::vector<std::pair<int, double>> &kept,
                    qf_rdkit_out *out)
{
	size_t n = mol.getNumAtoms();
	out->conf_xyz = static_cast<double *>(std::malloc(kept.size() * n * 3 * sizeof(double)));
	out->ff_energy = static_cast<double *>(std::malloc(kept.size() * sizeof(double)));
	if (!out->conf_xyz || !out->ff_energy) {
		out->out_of_memory = 1;
		return fail(out, "system.memory", "out of memory in the RDKit module");
	}
	for (size_t k = 0; k < kept.size(); k++) {
		const RDKit::Conformer &conf = mol.getConformer(kept[k].first);
		for (size_t i = 0; i < n; i++) {
			const RDGeom::Point3D &p = conf.getAtomPos(static_cast<unsigned>(i));
			out->conf_xyz[3 * (k * n + i) + 0] = p.x;
			out->conf_xyz[3 * (k * n + i) + 1] = p.y;
			out->conf_xyz[3 * (k * n + i) + 2] = p.z;
		}
		out->ff_energy[k] = kept[k].second;
	}
	out->nconf = static_cast<int>(kept.size());
	return 0;
}

/* Several conformers: ETKDGv3 from kEmbedSeed with RMSD pruning, each
 * minimised, the distinct ones that pass the checks by energy. */
int embed_many(RDKit::RWMol &mol, const char *smiles, int nconf, const Stereo &wanted,
               qf_rdkit_out *out, std::vector<std::pair<int, double>> &kept)
{
	std::string why;
	const char *ff = "MMFF94";
	{
		LogCapture capture;
		RDKit::DGeomHelpers::EmbedParameters params = RDKit::DGeomHelpers::ETKDGv3;
		params.randomSeed = kEmbedSeed;
		params.pruneRmsThresh = kConformerPruneRms;
		RDKit::INT_VECT ids = RDKit::DGeomHelpers::EmbedMultipleConfs(mol, nconf, params);
		if (ids.empty()) {
			params.useRandomCoords = true;
			ids = RDKit::DGeomHelpers::EmbedMultipleConfs(mol, nconf, params);
		}
		std::vector<std::pair<int, double>> res;
		if (!ids.empty()) {
			RDKit::MMFF::MMFFOptimizeMoleculeConfs(mol, res, 1, kForceFieldIterations, "MMFF94",
			                                       kMMFFNonBondedThresh);
			if (!res.empty() && res[0].first == -1) {
				ff = "UFF";
				RDKit::UFF::UFFOptimizeMoleculeConfs(mol, res, 1, kForceFieldIterations,
				                                     kUFFVdwThresh);
			}
		}
		why = ids.empty() ? "ETKDG found no coordinates" : "";
		/* res is in conformer order, as getConformers() lists them */
		size_t k = 0;
		for (auto c = mol.beginConformers(); c != mol.endConformers() && k < res.size(); ++c, ++k) {
			int id = static_cast<int>((*c)->getId());
			if (res[k].first != 0) {
				why = std::string("the ") + ff + " clean-up did not converge";
				continue;
			}
			std::string w = check_conformer(mol, id, wanted, ff);
			if (!w.empty()) {
				why = w;
				continue;
			}
			kept.emplace_back(id, res[k].second);
		}
		if (kept.empty() && why.empty())
			why = capture.first_error();
	}
	if (kept.empty())
		return fail(out, "input.embedding",
		            "could not build 3D coordinates for SMILES '" + shown_smiles(smiles) +
		                "': none of " + std::to_string(nconf) + " conformers (seed " +
		                std::to_string(kEmbedSeed) + ") passed; the last: " +
		                (why.empty() ? "no reason given" : why));
	std::stable_sort(kept.begin(), kept.end(),
	                 [](const auto &a, const auto &b) { return a.second < b.second; });
	std::vector<std::pair<int, double>> distinct;
	for (const auto &c : kept)
		if (distinct.empty() || c.second - distinct.back().second >= kSameMinimumKcal)
			distinct.push_back(c);
	kept.swap(distinct);
	std::snprintf(out->force_field, sizeof(out->force_field), "%s", ff);
	out->seed = kEmbedSeed;
	return 0;
}

int embed(const char *smiles, int max_atoms, int nconf, qf_rdkit_out *out)
{
	std::unique_ptr<RDKit::RWMol> mol;
	std::string canonical, why;
	Stereo wanted;
	if (parse(smiles, max_atoms, out, mol, canonical, &wanted))
		return -1;
	std::vector<std::pair<int, double>> kept;
	if (nconf > 1) {
		if (embed_many(*mol, smiles, nconf, wanted, out, kept))
			return -1;
	} else {
		int conf_id = -1, tries = 0;
		const char *ff = "MMFF94";
		double energy = 0;
		{
			LogCapture capture;
			for (; conf_id < 0 && tries < QF_EMBED_MAX_TRIES; tries++) {
				try {
					conf_id = embed_once(*mol, kEmbedSeed + tries, wanted, why, ff, energy);
				} catch (const std::bad_alloc &) {
					throw;
				} catch (const std::exception &e) {
					why = e.what();
					conf_id = -1;
				}
				if (conf_id < 0 && why.empty())
					why = capture.first_error();
			}
		}
		if (conf_id < 0)
			return fail(out, "input.embedding",
			            "could not build 3D coordinates for SMILES '" + shown_smiles(smiles) +
			                "': " + std::to_string(tries) + " embedding" + (tries == 1 ? "" : "s") +
			                " (seeds " + std::to_string(kEmbedSeed) + "-" +
			                std::to_string(kEmbedSeed + tries - 1) + ") failed; the last: " +
			                (why.empty() ? "no reason given" : why));
		kept.emplace_back(conf_id, energy);
		std::snprintf(out->force_field, sizeof(out->force_field), "%s", ff);
		out->seed = kEmbedSeed + tries - 1;
	}
	if (take_atoms(*mol, kept[0].first, canonical, out))
		return -1;
	return take_conformers(*mol, kept, out);
}

/* The entry points' common frame: out zeroed, exceptions turned into
 * failures, the success fields freed on failure. */
int guarded(const std::function<int()> &fn, qf_rdkit_out *out)
{
	std::memset(out, 0, sizeof(*out));
	int rc;
	try {
		rc = fn();
	} catch (const std::bad_alloc &) {
		out->out_of_memory = 1;
		rc = fail(out, "system.memory", "out of memory in the RDKit module");
	} catch (const std::exception &e) {
		rc = fail(out, "input.smiles", std::string("RDKit failed on SMILES: ") + e.what());
	}
	if (rc) {
		for (void *p : {static_cast<void *>(out->z), static_cast<void *>(out->xyz),
		                static_cast<void *>(out->canonical), static_cast<void *>(out->conf_xyz),
		                static_cast<void *>(out->ff_energy), static_cast<void *>(out->stereo_json)})
			std::free(p);
		out->z = nullptr;
		out->xyz = nullptr;
		out->canonical = nullptr;
		out->conf_xyz = nullptr;
		out->ff_energy = nullptr;
		out->stereo_json = nullptr;
		out->natoms = out->nconf = 0;
		out->charge = 0;
		out->uhf = 0;
	}
	return rc;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int qf_rdkit_abi(void)
{
	return QF_RDKIT_ABI;
}

extern "C" __attribute__((visibility("default"))) int qf_rdkit_embed(const char *smiles, int max_atoms,
                                                                     int conformers, qf_rdkit_out *out)
{
	return guarded([&] { return embed(smiles ? smiles : "", max_atoms, conformers, out); }, out);
}

extern "C" __attribute__((visibility("default"))) int qf_rdkit_parse(const char *smiles, int max_atoms,
                                                                     qf_rdkit_out *out)
{
	return guarded([&] { return check_only(smiles ? smiles : "", max_atoms, out); }, out);
}

/* ---- descriptors ------------------------------------------------------------
 * The molecule is read exactly as RDKit's Python reads it by default
 * (Chem.MolFromSmiles / Chem.MolFromMolBlock: sanitised, hydrogens removed)
 * and each descriptor is the C++ function behind the Python one of
 * rdkit.Chem.Descriptors, with Python's defaults:
 *   MolWt            calcAMW(mol, onlyHeavy = false)
 *   MolLogP, MolMR   calcCrippenDescriptors(mol, logp, mr, includeHs = true)
 *   TPSA             calcTPSA(mol, force = false, includeSandP = false)
 *   NumHDonors       calcNumHBD (not calcLipinskiHBD: no N/O counts)
 *   NumHAcceptors    calcNumHBA
 *   NumRotatableBonds calcNumRotatableBonds(mol, Default)
 *   MolToSmiles      canonical, isomeric
 */
namespace {

int props_fail(qf_rdkit_props *out, const char *code, const std::string &message)
{
	std::snprintf(out->code, sizeof(out->code), "%s", code);
	std::snprintf(out->message, sizeof(out->message), "%s", message.c_str());
	return -1;
}

int descriptors(const char *text, int from, qf_rdkit_props *out)
{
	std::unique_ptr<RDKit::RWMol> mol;
	std::string why;
	{
		LogCapture capture;
		try {
			if (from == QF_RDKIT_FROM_MOLBLOCK)
				mol.reset(RDKit::MolBlockToMol(text, true, true, true));
			else
				mol.reset(RDKit::SmilesToMol(text));
		} catch (const std::exception &e) {
			why = e.what();
		}
		if (!mol && why.empty())
			why = capture.first_error();
	}
	const char *what = from == QF_RDKIT_FROM_MOLBLOCK ? "mol block" : "SMILES";
	if (!mol)
		return props_fail(out, "props.rdkit",
		                  std::string("RDKit could not read the ") + what + ": " +
		                      (why.empty() ? "it rejected it" : why));
	if (mol->getNumAtoms() == 0)
		return props_fail(out, "props.rdkit", std::string("the ") + what + " has no atoms");
	double logp = 0, mr = 0;
	for (const auto atom : mol->atoms()) {
		int z = atom->getAtomicNum();
		if (z < 1 || z > QF_RDKIT_MAX_Z)
			return props_fail(out, "props.rdkit", "dummy atoms (*) have no descriptors");
		out->element_count[z]++;
		out->element_count[1] += static_cast<int>(atom->getTotalNumHs());
		out->radicals += static_cast<int>(atom->getNumRadicalElectrons());
	}
	out->formal_charge = RDKit::MolOps::getFormalCharge(*mol);
	out->molecular_weight = RDKit::Descriptors::calcAMW(*mol, false);
	RDKit::Descriptors::calcCrippenDescriptors(*mol, logp, mr, true, false);
	out->logp = logp;
	out->molar_refractivity = mr;
	out->tpsa = RDKit::Descriptors::calcTPSA(*mol, false, false);
	out->hbd = static_cast<int>(RDKit::Descriptors::calcNumHBD(*mol));
	out->hba = static_cast<int>(RDKit::Descriptors::calcNumHBA(*mol));
	out->rotatable_bonds = static_cast<int>(RDKit::Descriptors::calcNumRotatableBonds(*mol));
	std::string canonical = RDKit::MolToSmiles(*mol);
	out->canonical = strdup(canonical.c_str());
	if (!out->canonical) {
		out->out_of_memory = 1;
		return props_fail(out, "system.memory", "out of memory in the RDKit module");
	}
	return 0;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int qf_rdkit_descriptors(const char *text, int from,
                                                                           qf_rdkit_props *out)
{
	std::memset(out, 0, sizeof(*out));
	int rc;
	try {
		rc = descriptors(text ? text : "", from, out);
	} catch (const std::bad_alloc &) {
		out->out_of_memory = 1;
		rc = props_fail(out, "system.memory", "out of memory in the RDKit module");
	} catch (const std::exception &e) {
		rc = props_fail(out, "props.rdkit", std::string("RDKit failed: ") + e.what());
	}
	if (rc) {
		std::free(out->canonical);
		out->canonical = nullptr;
	}
	return rc;
}
