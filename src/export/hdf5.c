/*
 * HDF5 in the layout TorchANI-style loaders read (the ANI-1x / ANI-2x
 * datasets): one group per molecular formula, each with
 *
 *   species          (atoms,)          element symbols, fixed-length strings
 *   coordinates      (n, atoms, 3)     float64, Angstrom
 *   energies         (n,)              float64, Hartree
 *   forces           (n, atoms, 3)     float64, Hartree/Angstrom (NaN: none)
 *   calculation_ids  (n,)              the calculations, 36-character strings
 *
 * Conformations of one formula share one species order: the atoms of each
 * are sorted by atomic number (stable), so that molecules of the same
 * formula whose files list atoms in other orders fit one group (models of
 * this kind are invariant to the order of atoms). Rows without an energy
 * are skipped (a training set needs one).
 *
 * Streaming: datasets are chunked with an unlimited first dimension and
 * each row is appended where it belongs, so memory holds one row and the
 * open groups' chunk caches, not the dataset; at most OPEN_GROUPS groups
 * are open at a time (least recently used closed first), each dataset with
 * a small chunk cache.
 */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export_int.h"
#include "qf/mol.h"
#include "qf/str.h"

#define OPEN_GROUPS 16
#define CHUNK_CACHE_BYTES (1024 * 1024)
#define CHUNK_BYTES (512 * 1024)

enum { D_COORD = 0, D_ENERGY, D_FORCES, D_IDS, D_N };

typedef struct group {
	char formula[256];
	int natoms;
	hsize_t n;
	hid_t g, d[D_N];
	bool open;
	uint64_t used;
} group;

typedef struct h5state {
	hid_t file;
	group *groups;
	size_t ngroups, cap;
	uint64_t tick;
	int nopen;
	/* one row, sorted */
	int *order;
	double *coord, *forces;
	int cap_atoms;
} h5state;

static int h5fail(qf_err *err, const char *what)
{
	return qf_err_set(err, QF_CAT_SYSTEM, "export.hdf5", "HDF5: could not %s", what);
}

static void close_group(h5state *h, group *g)
{
	if (!g->open)
		return;
	for (int i = 0; i < D_N; i++)
		H5Dclose(g->d[i]);
	H5Gclose(g->g);
	g->open = false;
	h->nopen--;
}

static hid_t string_type(size_t n)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, n);
	H5Tset_strpad(t, H5T_STR_NULLPAD);
	return t;
}

static hid_t dataset_access(void)
{
	hid_t p = H5Pcreate(H5P_DATASET_ACCESS);
	H5Pset_chunk_cache(p, 521, CHUNK_CACHE_BYTES, 1.0);
	return p;
}

/* Create a growing dataset of rank 1 + extra dims. */
static hid_t create_growing(hid_t g, const char *name, hid_t type, int rank, const hsize_t *tail,
                            size_t row_bytes)
{
	hsize_t dims[3] = {0, 0, 0}, max[3] = {H5S_UNLIMITED, 0, 0}, chunk[3] = {1, 0, 0};
	for (int i = 1; i < rank; i++)
		dims[i] = max[i] = chunk[i] = tail[i - 1];
	hsize_t rows = CHUNK_BYTES / (row_bytes ? row_bytes : 1);
	chunk[0] = rows < 1 ? 1 : rows > 64 ? 64 : rows;
	hid_t space = H5Screate_simple(rank, dims, max);
	hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(plist, rank, chunk);
	hid_t dapl = dataset_access();
	hid_t d = H5Dcreate2(g, name, type, space, H5P_DEFAULT, plist, dapl);
	H5Pclose(dapl);
	H5Pclose(plist);
	H5Sclose(space);
	return d;
}

static const char *const dnames[D_N] = {"coordinates", "energies", "forces", "calculation_ids"};

static int open_group(h5state *h, group *g, bool create, const int *z, qf_err *err)
{
	if (h->nopen >= OPEN_GROUPS) { /* close the least recently used */
		group *lru = NULL;
		for (size_t i = 0; i < h->ngroups; i++)
			if (h->groups[i].open && (!lru || h->groups[i].used < lru->used))
				lru = &h->groups[i];
		if (lru)
			close_group(h, lru);
	}
	hsize_t tail[2] = {(hsize_t)g->natoms, 3};
	if (create) {
		if ((g->g = H5Gcreate2(h->file, g->formula, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
			return h5fail(err, "create a group");
		hid_t st = string_type(2);
		hsize_t n = (hsize_t)g->natoms;
		hid_t space = H5Screate_simple(1, &n, NULL);
		hid_t sp = H5Dcreate2(g->g, "species", st, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		char *sym = calloc((size_t)g->natoms, 2);
		herr_t wrc = -1;
		if (sym && sp >= 0) {
			for (int i = 0; i < g->natoms; i++) {
				const char *s = qf_element_symbol(z[i]);
				memcpy(sym + 2 * i, s ? s : "X", s && s[1] ? 2 : 1);
			}
			wrc = H5Dwrite(sp, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, sym);
		}
		free(sym);
		if (sp >= 0)
			H5Dclose(sp);
		H5Sclose(space);
		hid_t ids = string_type(36);
		size_t atom_bytes = (size_t)g->natoms * 3 * sizeof(double);
		g->d[D_COORD] = create_growing(g->g, dnames[D_COORD], H5T_IEEE_F64LE, 3, tail, atom_bytes);
		g->d[D_ENERGY] = create_growing(g->g, dnames[D_ENERGY], H5T_IEEE_F64LE, 1, NULL, 8);
		g->d[D_FORCES] = create_growing(g->g, dnames[D_FORCES], H5T_IEEE_F64LE, 3, tail, atom_bytes);
		g->d[D_IDS] = create_growing(g->g, dnames[D_IDS], ids, 1, NULL, 36);
		H5Tclose(ids);
		H5Tclose(st);
		if (wrc < 0)
			return h5fail(err, "write species");
	} else {
		if ((g->g = H5Gopen2(h->file, g->formula, H5P_DEFAULT)) < 0)
			return h5fail(err, "open a group");
		hid_t dapl = dataset_access();
		for (int i = 0; i < D_N; i++)
			g->d[i] = H5Dopen2(g->g, dnames[i], dapl);
		H5Pclose(dapl);
	}
	for (int i = 0; i < D_N; i++)
		if (g->d[i] < 0)
			return h5fail(err, "create a dataset");
	g->open = true;
	h->nopen++;
	return 0;
}

/* Append one row of row_elems values to dataset d (now n rows). */
static int append(hid_t d, hsize_t n, int rank, hsize_t natoms, hid_t memtype, const void *data)
{
	hsize_t size[3] = {n + 1, natoms, 3}, start[3] = {n, 0, 0}, count[3] = {1, natoms, 3};
	if (H5Dset_extent(d, size) < 0)
		return -1;
	hid_t fs = H5Dget_space(d);
	hid_t ms = H5Screate_simple(rank, count, NULL);
	herr_t rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
	if (rc >= 0)
		rc = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, data);
	H5Sclose(ms);
	H5Sclose(fs);
	return rc < 0 ? -1 : 0;
}

static int h5_begin(qf__exporter *x, qf_err *err)
{
	h5state *h = calloc(1, sizeof(*h));
	if (!h)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	x->state = h;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors become ours, not prints */
	h->file = H5Fcreate(x->o->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (h->file < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "export.hdf5", "could not create HDF5 file %s",
		                  x->o->path);
	/* units, for readers that look */
	hid_t space = H5Screate(H5S_SCALAR);
	static const char *const units[][2] = {{"coordinates_unit", "angstrom"},
	                                      {"energies_unit", "hartree"},
	                                      {"forces_unit", "hartree/angstrom"},
	                                      {"creator", "Quantum Forge " QF_VERSION}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		hid_t t = string_type(strlen(units[i][1]));
		hid_t at = H5Acreate2(h->file, units[i][0], t, space, H5P_DEFAULT, H5P_DEFAULT);
		if (at >= 0) {
			H5Awrite(at, t, units[i][1]);
			H5Aclose(at);
		}
		H5Tclose(t);
	}
	H5Sclose(space);
	return 0;
}

static int cmp_z(const void *a, const void *b, void *ctx)
{
	const int *z = ctx;
	int ia = *(const int *)a, ib = *(const int *)b;
	return z[ia] != z[ib] ? (z[ia] < z[ib] ? -1 : 1) : (ia < ib ? -1 : ia > ib);
}

static int h5_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *a, qf_err *err)
{
	h5state *h = x->state;
	const qf_qcell *e = &cells[x->nsel + XE_ENERGY], *id = &cells[x->nsel + XE_ID];
	if (!a || a->n < 1 || e->null || id->null) {
		x->st.skipped++;
		return 0;
	}
	if (a->n > h->cap_atoms) {
		int *o = realloc(h->order, (size_t)a->n * sizeof(int));
		if (o)
			h->order = o;
		double *c = realloc(h->coord, (size_t)a->n * 3 * sizeof(double));
		if (c)
			h->coord = c;
		double *f = realloc(h->forces, (size_t)a->n * 3 * sizeof(double));
		if (f)
			h->forces = f;
		if (!o || !c || !f)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		h->cap_atoms = a->n;
	}
	for (int i = 0; i < a->n; i++)
		h->order[i] = i;
	qsort_r(h->order, (size_t)a->n, sizeof(int), cmp_z, (void *)a->z);
	int zs[256];
	int *zsorted = a->n <= 256 ? zs : malloc((size_t)a->n * sizeof(int));
	if (!zsorted)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	for (int i = 0; i < a->n; i++) {
		int k = h->order[i];
		zsorted[i] = a->z[k];
		for (int c = 0; c < 3; c++) {
			h->coord[3 * i + c] = a->xyz[3 * k + c];
			double f = a->force[3 * k + c];
			h->forces[3 * i + c] = isnan(f) ? NAN : f / QF__BOHR_A; /* Eh/Bohr -> Eh/A */
		}
	}
	qf_mol m = {.natoms = a->n, .z = zsorted};
	char formula[256];
	qf_mol_formula(&m, formula, sizeof(formula));
	group *g = NULL;
	for (size_t i = 0; i < h->ngroups && !g; i++)
		if (!strcmp(h->groups[i].formula, formula))
			g = &h->groups[i];
	int rc = 0;
	if (!g) {
		if (h->ngroups == h->cap) {
			size_t cap = h->cap ? 2 * h->cap : 64;
			group *ng = realloc(h->groups, cap * sizeof(*ng));
			if (!ng) {
				rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
				goto out;
			}
			h->groups = ng;
			h->cap = cap;
		}
		g = &h->groups[h->ngroups++];
		memset(g, 0, sizeof(*g));
		qf_strlcpy(g->formula, formula, sizeof(g->formula));
		g->natoms = a->n;
		rc = open_group(h, g, true, zsorted, err);
	} else if (!g->open) {
		rc = open_group(h, g, false, zsorted, err);
	}
	if (rc)
		goto out;
	g->used = ++h->tick;
	char ids[37] = {0};
	memcpy(ids, id->s, id->len < 36 ? id->len : 36);
	hid_t idt = string_type(36);
	hsize_t na = (hsize_t)a->n;
	if (append(g->d[D_COORD], g->n, 3, na, H5T_NATIVE_DOUBLE, h->coord) ||
	    append(g->d[D_ENERGY], g->n, 1, 0, H5T_NATIVE_DOUBLE, &e->d) ||
	    append(g->d[D_FORCES], g->n, 3, na, H5T_NATIVE_DOUBLE, h->forces) ||
	    append(g->d[D_IDS], g->n, 1, 0, idt, ids))
		rc = h5fail(err, "append a row");
	H5Tclose(idt);
	if (!rc) {
		g->n++;
		x->st.rows++;
	}
out:
	if (zsorted != zs)
		free(zsorted);
	return rc;
}

static void h5_release(qf__exporter *x)
{
	h5state *h = x->state;
	if (!h)
		return;
	for (size_t i = 0; i < h->ngroups; i++)
		close_group(h, &h->groups[i]);
	if (h->file >= 0)
		H5Fclose(h->file);
	free(h->groups);
	free(h->order);
	free(h->coord);
	free(h->forces);
	free(h);
	x->state = NULL;
}

static int h5_end(qf__exporter *x, qf_err *err)
{
	h5state *h = x->state;
	herr_t frc = h->file >= 0 ? H5Fflush(h->file, H5F_SCOPE_GLOBAL) : -1;
	h5_release(x);
	if (frc < 0)
		return h5fail(err, "write the file");
	struct stat sb;
	if (stat(x->o->path, &sb) == 0)
		x->st.bytes = (int64_t)sb.st_size;
	return 0;
}

const qf__xformat qf__xf_hdf5 = {"hdf5", "h5", "application/x-hdf5", true, true, h5_begin, h5_row,
                                 h5_end, h5_release};
