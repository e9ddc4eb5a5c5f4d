/*
 * The descriptors of stored molecules (include/qf/props.h): which molecules
 * still need them, with what is known of each (its SMILES, the SDF record
 * it came from, its geometry), and writing one molecule's row of
 * molecule_properties_computed (insert or replace: the table has one row
 * per molecule, UNIQUE (molecule_id)).
 */
#include <stdlib.h>
#include <string.h>

#include "qf/props.h"
#include "qf/str.h"
#include "store_int.h"

void qf_props_todo_release(qf_props_todo *t)
{
	free(t->smiles);
	free(t->molblock);
	qf_mol_release(&t->mol);
	memset(t, 0, sizeof(*t));
}

static char *col_dup(qf__stmt *st, int i)
{
	size_t n = 0;
	const char *s = qf__stmt_col_text(st, i, &n);
	return s ? strndup(s, n) : NULL;
}

/* atomic_numbers [Z...] and coordinates [[x,y,z]...] into m. */
static int geometry_from_json(qf__stmt *st, int iz, int ixyz, qf_mol *m, qf_err *err)
{
	size_t nz = 0, nx = 0;
	const char *sz = qf__stmt_col_text(st, iz, &nz), *sx = qf__stmt_col_text(st, ixyz, &nx);
	json_t *z = sz ? json_loadb(sz, nz, 0, NULL) : NULL;
	json_t *x = sx ? json_loadb(sx, nx, 0, NULL) : NULL;
	int rc = 0;
	size_t n = json_array_size(z);
	if (!json_is_array(z) || !json_is_array(x) || json_array_size(x) != n || n > QF_MAX_ATOMS) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.corrupt",
		                "a stored molecule's geometry is not JSON arrays of matching length");
		goto out;
	}
	if ((rc = qf_mol_resize(m, (int)n, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(x, i);
		m->z[i] = (int)json_integer_value(json_array_get(z, i));
		for (int k = 0; k < 3; k++)
			m->xyz[3 * i + (size_t)k] = json_number_value(json_array_get(p, (size_t)k));
	}
out:
	json_decref(z);
	json_decref(x);
	return rc;
}

int qf_store_props_todo(qf_store *s, const qf_actor *a, bool all, const char *after, int max,
                        qf_props_todo *out, int *n, qf_err *err)
{
	*n = 0;
	if (max < 1)
		return 0;
	qf__query q;
	qf__query_init(&q, s->dialect);
	const qf__table *mt = qf__catalog_find("molecules"), *ct = qf__catalog_find("calculations");
	/* The SDF record: of a calculation of the molecule the actor sees (the
	 * subquery's own columns come first in name resolution). */
	qf__query_sql(&q, "SELECT m.id, m.smiles, m.atomic_numbers, m.coordinates, m.charge, m.uhf, "
	                  "(SELECT input_text FROM calculations WHERE molecule_id = m.id AND input_format = ");
	qf__query_text(&q, "sdf");
	qf__query_sql(&q, " AND input_text IS NOT NULL AND ");
	qf__scope_where(&q, ct, a, QF__OP_READ);
	qf__query_sql(&q, " ORDER BY created_at, id LIMIT 1) FROM molecules m WHERE ");
	qf__scope_where(&q, mt, a, QF__OP_READ);
	if (after && *after) {
		qf__query_sql(&q, " AND m.id > ");
		qf__query_text(&q, after);
	}
	if (!all)
		qf__query_sql(&q, " AND NOT EXISTS (SELECT 1 FROM molecule_properties_computed p "
		                  "WHERE p.molecule_id = m.id)");
	qf__query_sql(&q, " ORDER BY m.id LIMIT ");
	qf__query_int(&q, max);

	qf__tx tx;
	int rc = qf__tx_begin(s, a, false, &tx, err);
	if (rc) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	while (rc == 1) {
		qf_props_todo *t = &out[*n];
		memset(t, 0, sizeof(*t));
		qf_mol_init(&t->mol);
		const char *id = qf__stmt_col_text(st, 0, NULL);
		qf_strlcpy(t->molecule_id, id ? id : "", sizeof(t->molecule_id));
		t->smiles = col_dup(st, 1);
		t->molblock = col_dup(st, 6);
		if ((rc = geometry_from_json(st, 2, 3, &t->mol, err))) {
			qf_props_todo_release(t);
			break;
		}
		t->mol.charge = (int)qf__stmt_col_int64(st, 4);
		t->mol.uhf = (int)qf__stmt_col_int64(st, 5);
		(*n)++;
		rc = *n < max ? qf__stmt_step(st, err) : 0;
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc < 0) {
		qf__tx_rollback(&tx);
		for (int i = 0; i < *n; i++)
			qf_props_todo_release(&out[i]);
		*n = 0;
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* A value in an INSERT ... SELECT list has no column to take its type from
 * on PostgreSQL: cast it there. */
static void pg_cast(qf__query *q, const char *type)
{
	if (q->dialect == QF__PG)
		qf__query_sql(q, "::%s", type);
}

int qf_store_props_put(qf_store *s, const qf_actor *a, const char *molecule_id, const qf_props *p,
                       const qf_err *failure, qf_err *err)
{
	if (!molecule_id || !qf_uuid_valid(molecule_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "a molecule id is needed");
	const qf__table *mt = qf__catalog_find("molecules");
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "INSERT INTO molecule_properties_computed (molecule_id, owner_id, org_id, "
	                  "molecular_weight, logp, hydrogen_bond_donors, hydrogen_bond_acceptors, "
	                  "rotatable_bonds, topological_polar_surface_area, molar_refractivity, "
	                  "computed_at, canonical_smiles, descriptor_source, error_code, error_message) "
	                  "SELECT id, owner_id, org_id, ");
	if (p) {
		qf__query_real(&q, p->molecular_weight);
		pg_cast(&q, "double precision");
		qf__query_sql(&q, ", ");
		qf__query_real(&q, p->logp);
		pg_cast(&q, "double precision");
		qf__query_sql(&q, ", ");
		qf__query_int(&q, p->hydrogen_bond_donors);
		pg_cast(&q, "integer");
		qf__query_sql(&q, ", ");
		qf__query_int(&q, p->hydrogen_bond_acceptors);
		pg_cast(&q, "integer");
		qf__query_sql(&q, ", ");
		qf__query_int(&q, p->rotatable_bonds);
		pg_cast(&q, "integer");
		qf__query_sql(&q, ", ");
		qf__query_real(&q, p->topological_polar_surface_area);
		pg_cast(&q, "double precision");
		qf__query_sql(&q, ", ");
		qf__query_real(&q, p->molar_refractivity);
		pg_cast(&q, "double precision");
	} else {
		qf__query_sql(&q, "NULL, NULL, NULL, NULL, NULL, NULL, NULL");
	}
	const char *texts[4] = {p ? p->canonical_smiles : NULL, p ? p->source : NULL,
	                        p ? NULL : failure ? failure->code : "props.failed",
	                        p ? NULL : failure ? failure->message : "could not be described"};
	qf__query_sql(&q, ", ");
	qf__query_time(&q, qf_clock_now());
	pg_cast(&q, "timestamptz");
	for (int i = 0; i < 4; i++) {
		qf__query_sql(&q, ", ");
		qf__query_text(&q, texts[i]);
		pg_cast(&q, "text");
	}
	qf__query_sql(&q, " FROM molecules WHERE id = ");
	qf__query_text(&q, molecule_id);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, mt, a, QF__OP_UPDATE);
	qf__query_sql(&q, " ON CONFLICT (molecule_id) DO UPDATE SET "
	                  "molecular_weight = excluded.molecular_weight, logp = excluded.logp, "
	                  "hydrogen_bond_donors = excluded.hydrogen_bond_donors, "
	                  "hydrogen_bond_acceptors = excluded.hydrogen_bond_acceptors, "
	                  "rotatable_bonds = excluded.rotatable_bonds, "
	                  "topological_polar_surface_area = excluded.topological_polar_surface_area, "
	                  "molar_refractivity = excluded.molar_refractivity, "
	                  "computed_at = excluded.computed_at, canonical_smiles = excluded.canonical_smiles, "
	                  "descriptor_source = excluded.descriptor_source, error_code = excluded.error_code, "
	                  "error_message = excluded.error_message");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc >= 0)
		rc = qf__stmt_changes(st) > 0
		         ? 0
		         : qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                        "no molecule '%s' you may change", molecule_id);
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
