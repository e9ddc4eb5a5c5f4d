/*
 * SMILES -> qf_mol through the RDKit module (src/chem/rdkit_module.h),
 * loaded here on the first SMILES: from the directory of the running
 * program, else from the build directory it was built in (QF_RDKIT_MODULE).
 */
#include "qf/molio.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/str.h"
#include "rdkit_module.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static qf_rdkit_embed_fn embed_fn;
static qf_rdkit_parse_fn parse_fn;
static char load_error[768];

/* dlopen path, or a note of why not in load_error (appended). */
static void *try_open(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		size_t used = strlen(load_error);
		snprintf(load_error + used, sizeof(load_error) - used, "%s%s", used ? "; " : "",
		         why ? why : path);
	}
	return h;
}

static void load(void)
{
	void *h = NULL;
	char dir[PATH_MAX];
	if (qf_fs_self_dir(dir, sizeof(dir)) == 0) {
		char path[PATH_MAX + sizeof(QF_RDKIT_MODULE_FILE)];
		snprintf(path, sizeof(path), "%s/%s", dir, QF_RDKIT_MODULE_FILE);
		h = try_open(path);
	}
#ifdef QF_RDKIT_MODULE
	if (!h)
		h = try_open(QF_RDKIT_MODULE);
#endif
	if (!h)
		return;
	qf_rdkit_abi_fn abi = (qf_rdkit_abi_fn)dlsym(h, QF_RDKIT_ABI_SYMBOL);
	qf_rdkit_embed_fn fn = (qf_rdkit_embed_fn)dlsym(h, QF_RDKIT_EMBED_SYMBOL);
	qf_rdkit_parse_fn pfn = (qf_rdkit_parse_fn)dlsym(h, QF_RDKIT_PARSE_SYMBOL);
	if (!abi || !fn || !pfn || abi() != QF_RDKIT_ABI) {
		snprintf(load_error, sizeof(load_error), "%s is not the RDKit module of this qforge (%s)",
		         QF_RDKIT_MODULE_FILE,
		         !abi || !fn || !pfn ? "functions missing" : "another version");
		dlclose(h);
		return;
	}
	embed_fn = fn; /* the module stays loaded for the life of the process */
	parse_fn = pfn;
}

void qf_conformers_release(qf_conformers *c)
{
	if (!c)
		return;
	free(c->xyz);
	free(c->ff_energy);
	memset(c, 0, sizeof(*c));
}

/* m->embedding from the module's answer: how, and the stereo left open. */
static char *embedding_json(const qf_rdkit_out *out, int requested)
{
	json_error_t je;
	json_t *doc = out->stereo_json ? json_loads(out->stereo_json, 0, &je) : NULL;
	if (!doc)
		doc = json_object();
	json_t *how = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:f}", "method", "ETKDGv3", "force_field",
	                        out->force_field, "seed", out->seed, "conformers_requested", requested,
	                        "conformers", out->nconf, "conformer", 0, "ff_energy_kcal",
	                        out->nconf > 0 ? out->ff_energy[0] : 0.0);
	char *text = NULL;
	if (doc && how && !json_object_update(how, doc))
		text = json_dumps(how, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
	json_decref(how);
	json_decref(doc);
	return text;
}

int qf_embedding_of_conformer(const char *embedding, int k, double ff_energy, char **out,
                              qf_err *err)
{
	json_error_t je;
	json_t *doc = embedding ? json_loads(embedding, 0, &je) : json_object();
	*out = NULL;
	if (doc) {
		json_object_set_new(doc, "conformer", json_integer(k));
		json_object_set_new(doc, "ff_energy_kcal", json_real(ff_energy));
		*out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
		json_decref(doc);
	}
	return *out ? 0 : qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}

static void release_out(qf_rdkit_out *out)
{
	free(out->z);
	free(out->xyz);
	free(out->canonical);
	free(out->conf_xyz);
	free(out->ff_energy);
	free(out->stereo_json);
}

/* Every entry point: checks of the text, the module, then out -> m (with
 * coordinates when the module gave them, else zeros) and c. conformers 0:
 * no embedding (qf_smiles_check). */
static int from_module(const char *smiles, const char *name, int conformers, qf_mol *m,
                       qf_conformers *c, qf_err *err)
{
	if (!smiles || !*smiles)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.smiles", "empty SMILES");
	if (strlen(smiles) > QF_MAX_SMILES)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.smiles", "SMILES longer than %d characters",
		                  QF_MAX_SMILES);
	if (conformers > QF_MAX_CONFORMERS)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.conformers",
		                  "at most %d conformers per molecule", QF_MAX_CONFORMERS);
	pthread_once(&load_once, load);
	if (!embed_fn)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.rdkit",
		                  "cannot read SMILES: the RDKit module could not be loaded (%s); rebuild "
		                  "with make, or install librdkit1 (scripts/install-deps)",
		                  load_error);
	qf_rdkit_out out;
	/* Embedding: the module refuses past the SMILES atom limit before it
	 * embeds; parsing counts up to QF_MAX_ATOMS and is refused below. */
	int mrc = conformers > 0 ? embed_fn(smiles, QF_MAX_SMILES_ATOMS, conformers, &out)
	                         : parse_fn(smiles, QF_MAX_ATOMS, &out);
	if (mrc != 0) {
		if (out.out_of_memory)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "%s", out.message);
		bool too_big = conformers > 0 && !strcmp(out.code, "input.too_many_atoms");
		return qf_err_set(err, QF_CAT_VALIDATION, too_big ? "input.embedding" : out.code, "%s",
		                  out.message);
	}
	int rc = 0;
	if (out.natoms > QF_MAX_SMILES_ATOMS)
		rc = qf_err_set(err, QF_CAT_VALIDATION, "input.embedding",
		                "SMILES '%.60s%s' gives %d atoms with hydrogens: 3D structures are made from "
		                "SMILES of at most %d atoms (larger ones outlast the embedding time limit); "
		                "give this molecule as XYZ or SDF",
		                smiles, strlen(smiles) > 60 ? "..." : "", out.natoms, QF_MAX_SMILES_ATOMS);
	if (rc == 0)
		rc = qf_mol_resize(m, out.natoms, err);
	if (rc == 0 && conformers > 0 && !(m->embedding = embedding_json(&out, conformers)))
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (rc == 0) {
		memcpy(m->z, out.z, (size_t)out.natoms * sizeof(*m->z));
		if (out.xyz) /* else the zeros of qf_mol_resize */
			memcpy(m->xyz, out.xyz, (size_t)out.natoms * 3 * sizeof(*m->xyz));
		m->charge = out.charge;
		m->uhf = out.uhf;
		qf_strlcpy(m->name, name && *name ? name : out.canonical, sizeof(m->name));
		free(m->smiles);
		m->smiles = out.canonical;
		out.canonical = NULL;
		if (c) {
			c->n = out.nconf;
			c->xyz = out.conf_xyz;
			c->ff_energy = out.ff_energy;
			out.conf_xyz = NULL;
			out.ff_energy = NULL;
		}
	}
	release_out(&out);
	return rc;
}

int qf_smiles_to_mol(const char *smiles, const char *name, qf_mol *m, qf_err *err)
{
	return from_module(smiles, name, 1, m, NULL, err);
}

int qf_smiles_to_conformers(const char *smiles, const char *name, int conformers, qf_mol *m,
                            qf_conformers *c, qf_err *err)
{
	if (c)
		memset(c, 0, sizeof(*c));
	return from_module(smiles, name, conformers < 1 ? 1 : conformers, m, c, err);
}

int qf_smiles_check(const char *smiles, const char *name, qf_mol *m, qf_err *err)
{
	return from_module(smiles, name, 0, m, NULL, err);
}
