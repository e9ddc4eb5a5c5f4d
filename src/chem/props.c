/*
 * Molecular descriptors through the RDKit module (include/qf/props.h).
 *
 * Bond perception for molecules known only by their geometry (XYZ): Open
 * Babel's `obabel`, run as a separate program (qf_proc_run: argv, no shell,
 * own process group, limits, timeout, always reaped), XYZ in, MDL mol block
 * out, which RDKit then reads like any SDF record. Why Open Babel:
 *   - RDKit cannot: Debian's RDKit 2022.09 ships no rdDetermineBonds;
 *   - xtb's topology (xtbtopo.mol after a singlepoint) needs a calculation
 *     and writes aromatic bond types RDKit often cannot kekulise: on the 212
 *     drug-like ChEMBL molecules of bench/data embedded in 3D it gave the
 *     molecule of the SMILES for 85, Open Babel for 184;
 *   - Open Babel perceives connectivity and bond orders from coordinates
 *     alone (a well-kept library, Debian's openbabel 3.1), in ~20 ms.
 * Where Open Babel gets it wrong it leaves radicals or impossible valences
 * (purines, nitroso groups, charged species): the result is refused
 * (props.perception) unless its elements, total charge and radical
 * electrons are exactly those of the molecule, so a wrong graph is never
 * stored as descriptors.
 *
 * The module is loaded here on first use, like src/chem/smiles.c does for
 * SMILES (the same file, dlopen'ed once more: the dynamic loader shares it).
 */
#include "qf/props.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/molio.h"
#include "qf/proc.h"
#include "qf/str.h"
#include "rdkit_module.h"

void qf_props_init(qf_props *p)
{
	memset(p, 0, sizeof(*p));
}

void qf_props_release(qf_props *p)
{
	free(p->canonical_smiles);
	qf_props_init(p);
}

/* ---- the module -------------------------------------------------------------- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static qf_rdkit_descriptors_fn descriptors_fn;
static char load_why[768];

static void *open_module(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		size_t used = strlen(load_why);
		const char *e = dlerror();
		snprintf(load_why + used, sizeof(load_why) - used, "%s%s", used ? "; " : "", e ? e : path);
	}
	return h;
}

static void load_module(void)
{
	void *h = NULL;
	char dir[PATH_MAX];
	if (qf_fs_self_dir(dir, sizeof(dir)) == 0) {
		char path[PATH_MAX + sizeof(QF_RDKIT_MODULE_FILE)];
		snprintf(path, sizeof(path), "%s/%s", dir, QF_RDKIT_MODULE_FILE);
		h = open_module(path);
	}
#ifdef QF_RDKIT_MODULE
	if (!h)
		h = open_module(QF_RDKIT_MODULE);
#endif
	if (!h)
		return;
	qf_rdkit_abi_fn abi = (qf_rdkit_abi_fn)dlsym(h, QF_RDKIT_ABI_SYMBOL);
	void *fn = dlsym(h, QF_RDKIT_DESCRIPTORS_SYMBOL);
	if (!abi || !fn || abi() != QF_RDKIT_ABI) {
		snprintf(load_why, sizeof(load_why), "%s is not the RDKit module of this qforge",
		         QF_RDKIT_MODULE_FILE);
		dlclose(h);
		return;
	}
	descriptors_fn = (qf_rdkit_descriptors_fn)fn;
}

/* Run the module on text; out must be freed (canonical) by the caller. */
static int run_module(const char *text, int from, qf_rdkit_props *out, qf_err *err)
{
	pthread_once(&once, load_module);
	if (!descriptors_fn)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.rdkit",
		                  "cannot compute descriptors: the RDKit module could not be loaded (%s); "
		                  "rebuild with make, or install librdkit1 (scripts/install-deps)",
		                  load_why);
	if (descriptors_fn(text, from, out) != 0) {
		if (out->out_of_memory)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "%s", out->message);
		return qf_err_set(err, QF_CAT_VALIDATION, out->code, "%s", out->message);
	}
	return 0;
}

static void take(qf_props *p, qf_rdkit_props *r, const char *source)
{
	qf_props_release(p);
	qf_strlcpy(p->source, source, sizeof(p->source));
	p->canonical_smiles = r->canonical;
	r->canonical = NULL;
	p->molecular_weight = r->molecular_weight;
	p->logp = r->logp;
	p->hydrogen_bond_donors = r->hbd;
	p->hydrogen_bond_acceptors = r->hba;
	p->rotatable_bonds = r->rotatable_bonds;
	p->topological_polar_surface_area = r->tpsa;
	p->molar_refractivity = r->molar_refractivity;
}

int qf_props_from_smiles(const char *smiles, qf_props *p, qf_err *err)
{
	if (!smiles || !*smiles)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.rdkit", "empty SMILES");
	if (strlen(smiles) > QF_MAX_SMILES)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.rdkit", "SMILES longer than %d characters",
		                  QF_MAX_SMILES);
	qf_rdkit_props r;
	int rc = run_module(smiles, QF_RDKIT_FROM_SMILES, &r, err);
	if (!rc)
		take(p, &r, "smiles");
	return rc;
}

/* A mol block for RDKit: NUL-terminated, at most QF_QUEUE_MAX_INPUT_BYTES. */
static int molblock_props(const char *text, size_t len, qf_rdkit_props *r, qf_err *err)
{
	if (!text || !len)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.rdkit", "empty mol block");
	if (len > (size_t)QF_QUEUE_MAX_INPUT_BYTES)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.rdkit", "mol block larger than %ld bytes",
		                  (long)QF_QUEUE_MAX_INPUT_BYTES);
	char *copy = malloc(len + 1);
	if (!copy)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	int rc = run_module(copy, QF_RDKIT_FROM_MOLBLOCK, r, err);
	free(copy);
	return rc;
}

int qf_props_from_molblock(const char *text, size_t len, qf_props *p, qf_err *err)
{
	qf_rdkit_props r;
	int rc = molblock_props(text, len, &r, err);
	if (!rc)
		take(p, &r, "molblock");
	return rc;
}

/* ---- bonds from a geometry: Open Babel ----------------------------------------- */

static const char *obabel_program(void)
{
	const char *p = getenv("QF_OBABEL");
	return p && *p ? p : "obabel";
}

/* Whether the perceived molecule is m: same atoms by element, charge and
 * unpaired electrons; else props.perception naming the difference. */
static int check_perceived(const qf_mol *m, const qf_rdkit_props *r, qf_err *err)
{
	int want[QF_RDKIT_MAX_Z + 1] = {0};
	for (int i = 0; i < m->natoms; i++)
		if (m->z[i] >= 1 && m->z[i] <= QF_RDKIT_MAX_Z)
			want[m->z[i]]++;
	for (int z = 1; z <= QF_RDKIT_MAX_Z; z++)
		if (want[z] != r->element_count[z])
			return qf_err_set(err, QF_CAT_VALIDATION, "props.perception",
			                  "bond perception (Open Babel) gave %d %s atoms where the geometry has "
			                  "%d: give the molecule as SMILES or SDF for descriptors",
			                  r->element_count[z], qf_element_symbol(z), want[z]);
	if (r->formal_charge != m->charge || r->radicals != m->uhf)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.perception",
		                  "bond perception (Open Babel) found charge %d and %d unpaired electrons "
		                  "where the molecule has charge %d and %d: its bonds are ambiguous from the "
		                  "geometry alone; give the molecule as SMILES or SDF for descriptors",
		                  r->formal_charge, r->radicals, m->charge, m->uhf);
	return 0;
}

int qf_props_from_geometry(const qf_mol *m, qf_props *p, qf_err *err)
{
	if (!m || m->natoms < 1)
		return qf_err_set(err, QF_CAT_VALIDATION, "props.perception", "the molecule has no atoms");
	if (m->natoms > QF_MAX_ATOMS)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.too_many_atoms",
		                  "%d atoms: the limit is %d", m->natoms, QF_MAX_ATOMS);
	const char *tmp = getenv("TMPDIR");
	char dir[QF_MAX_PATH];
	if (qf_snprintf(dir, sizeof(dir), "%s/qforge-props.XXXXXX", tmp && *tmp ? tmp : "/tmp") ||
	    !mkdtemp(dir))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.tmp",
		                  "could not create a scratch directory for Open Babel under %s",
		                  tmp && *tmp ? tmp : "/tmp");
	char in[QF_MAX_PATH], out[QF_MAX_PATH], errlog[QF_MAX_PATH];
	char *xyz = NULL, *block = NULL;
	size_t len = 0;
	int rc;
	if (qf_fs_join(in, sizeof(in), dir, "in.xyz") || qf_fs_join(out, sizeof(out), dir, "out.sdf") ||
	    qf_fs_join(errlog, sizeof(errlog), dir, "stderr.log")) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "system.path", "scratch path too long");
		goto out_dir;
	}
	if (!(xyz = qf_mol_to_xyz(m, "qforge"))) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out_dir;
	}
	if ((rc = qf_fs_write(in, xyz, strlen(xyz), err)))
		goto out_dir;
	const char *argv[] = {obabel_program(), "-ixyz", in, "-osdf", "-O", out, NULL};
	/* BABEL_DATADIR etc. stay as installed; no plugins from the cwd. */
	qf_proc_opts po = {.argv = argv, .cwd = dir, .stderr_path = errlog,
	                   .capture_cap = 64 * 1024, .timeout = QF_OBABEL_TIMEOUT_S,
	                   .kill_grace = -1, .memory_mb = QF_OBABEL_MEMORY_MB};
	qf_proc_result pr;
	if ((rc = qf_proc_run(&po, &pr, err))) {
		qf_err_prefix(err, "bond perception needs Open Babel (scripts/install-deps installs it)");
		goto out_dir;
	}
	if (pr.timed_out || pr.exit_code != 0 || !qf_fs_exists(out)) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "props.obabel",
		                "Open Babel failed to perceive the bonds (%s)",
		                pr.timed_out ? "timed out" : pr.term_signal ? "killed by a signal" : "no output");
		char *e = NULL;
		size_t elen = 0;
		if (!qf_fs_read(errlog, 64 * 1024, &e, &elen, NULL))
			qf_err_detail(err, e, elen);
		free(e);
		goto out_dir;
	}
	if ((rc = qf_fs_read(out, QF_QUEUE_MAX_INPUT_BYTES, &block, &len, err)))
		goto out_dir;
	if (!len) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "props.perception",
		                "Open Babel found no molecule in the geometry");
		goto out_dir;
	}
	qf_rdkit_props r;
	if ((rc = molblock_props(block, len, &r, err))) {
		if (rc != QF_ENOMEM && err && err->category == QF_CAT_VALIDATION) {
			char why[QF_MAX_ERR_MSG];
			qf_strlcpy(why, err->message, sizeof(why));
			rc = qf_err_set(err, QF_CAT_VALIDATION, "props.perception",
			                "the bonds Open Babel perceived make no valid molecule (%s): give the "
			                "molecule as SMILES or SDF for descriptors",
			                why);
		}
		goto out_dir;
	}
	if ((rc = check_perceived(m, &r, err)))
		free(r.canonical);
	else
		take(p, &r, "geometry");
out_dir:
	free(xyz);
	free(block);
	qf_fs_rm_rf(dir);
	return rc;
}

int qf_props_compute(const qf_props_input *in, qf_props *p, qf_err *err)
{
	if (in->smiles && *in->smiles)
		return qf_props_from_smiles(in->smiles, p, err);
	if (in->molblock && in->molblock_len)
		return qf_props_from_molblock(in->molblock, in->molblock_len, p, err);
	if (in->geometry)
		return qf_props_from_geometry(in->geometry, p, err);
	return qf_err_set(err, QF_CAT_VALIDATION, "props.input", "nothing is known of the molecule");
}

json_t *qf_props_to_json(const qf_props *p, const char *name)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	int bad = 0;
	bad |= json_object_set_new(o, "name", name ? json_string(name) : json_null());
	bad |= json_object_set_new(o, "canonical_smiles",
	                           p->canonical_smiles ? json_string(p->canonical_smiles) : json_null());
	bad |= json_object_set_new(o, "molecular_weight", json_real(p->molecular_weight));
	bad |= json_object_set_new(o, "logp", json_real(p->logp));
	bad |= json_object_set_new(o, "hydrogen_bond_donors", json_integer(p->hydrogen_bond_donors));
	bad |= json_object_set_new(o, "hydrogen_bond_acceptors", json_integer(p->hydrogen_bond_acceptors));
	bad |= json_object_set_new(o, "rotatable_bonds", json_integer(p->rotatable_bonds));
	bad |= json_object_set_new(o, "topological_polar_surface_area",
	                           json_real(p->topological_polar_surface_area));
	bad |= json_object_set_new(o, "molar_refractivity", json_real(p->molar_refractivity));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
