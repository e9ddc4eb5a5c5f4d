/*
 * Structure formats: extended XYZ (ASE), SDF (RDKit and every SDF reader),
 * QCSchema AtomicResult documents (QCArchive). One record per calculation,
 * its atoms from the store (qf_qatoms), its values from the selected
 * columns under their canonical names (with units) and the extra columns
 * (export_int.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "export_int.h"
#include "qf/mol.h"

static const qf_qcell *extra(const qf__exporter *x, const qf_qcell *cells, int which)
{
	return &cells[x->nsel + which];
}

static const char *symbol(int z)
{
	const char *s = qf_element_symbol(z);
	return s ? s : "X";
}

/* Text for a line-oriented format: quotes, backslashes and line breaks
 * become '_' (a name from a file may hold anything). */
static void plain_text(qf__xout *o, const char *s, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20) {
			qf__xout_put(o, s + run, i - run);
			qf__xout_put(o, "_", 1);
			run = i + 1;
		}
	qf__xout_put(o, s + run, len - run);
}

static void plain_value(qf__xout *o, const qf_qcolumn *c, const qf_qcell *v, bool quote_text)
{
	switch (c->type) {
	case QF_QT_REAL: qf__xout_real(o, v->d); break;
	case QF_QT_INT: qf__xout_printf(o, "%lld", (long long)v->i); break;
	case QF_QT_BOOL: qf__xout_puts(o, v->b ? (quote_text ? "T" : "true") : (quote_text ? "F" : "false")); break;
	default:
		if (quote_text)
			qf__xout_put(o, "\"", 1);
		plain_text(o, v->s, v->len);
		if (quote_text)
			qf__xout_put(o, "\"", 1);
		break;
	}
}

/* ---- extended XYZ ------------------------------------------------------------------ */

static int extxyz_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *a, qf_err *err)
{
	(void)err;
	if (!a || a->n < 1) {
		x->st.skipped++;
		return 0;
	}
	qf__xout *o = &x->out;
	qf__xout_printf(o, "%d\nProperties=species:S:1:pos:R:3%s%s", a->n,
	                a->has_charges ? ":charges:R:1" : "", a->has_forces ? ":forces:R:3" : "");
	const qf_qcell *e = extra(x, cells, XE_ENERGY);
	if (!e->null) {
		qf__xout_puts(o, " energy=");
		qf__xout_real(o, e->d * QF__HARTREE_EV);
	}
	const qf_qcell *id = extra(x, cells, XE_ID);
	qf__xout_puts(o, " calculation_id=\"");
	plain_text(o, id->s ? id->s : "", id->len);
	qf__xout_puts(o, "\"");
	for (int i = 0; i < x->nsel; i++) {
		if (cells[i].null || !strcmp(x->cols[i]->name, "id"))
			continue;
		qf__xout_printf(o, " %s=", x->cols[i]->name);
		plain_value(o, x->cols[i], &cells[i], true);
	}
	qf__xout_puts(o, " pbc=\"F F F\"\n");
	for (int i = 0; i < a->n; i++) {
		qf__xout_printf(o, "%-2s", symbol(a->z[i]));
		for (int k = 0; k < 3; k++) {
			qf__xout_put(o, " ", 1);
			qf__xout_real(o, a->xyz[3 * i + k]);
		}
		if (a->has_charges) {
			qf__xout_put(o, " ", 1);
			qf__xout_real(o, isnan(a->charge[i]) ? 0.0 : a->charge[i]);
		}
		if (a->has_forces)
			for (int k = 0; k < 3; k++) {
				double f = a->force[3 * i + k];
				qf__xout_put(o, " ", 1);
				/* Eh/Bohr -> eV/A */
				qf__xout_real(o, isnan(f) ? 0.0 : f * QF__HARTREE_EV / QF__BOHR_A);
			}
		qf__xout_put(o, "\n", 1);
	}
	x->st.rows++;
	return 0;
}

/* ---- SDF ------------------------------------------------------------------------- */

/* The name line of a record: one line, at most 80 characters. */
static void sdf_title(qf__xout *o, const qf_qcell *name)
{
	size_t n = name->null || !name->s ? 0 : name->len > 80 ? 80 : name->len;
	for (size_t i = 0; i < n; i++) {
		char c = (unsigned char)name->s[i] < 0x20 ? '_' : name->s[i];
		qf__xout_put(o, &c, 1);
	}
	qf__xout_put(o, "\n", 1);
}

static void sdf_field_start(qf__xout *o, const char *name)
{
	qf__xout_printf(o, ">  <%s>\n", name);
}

static int sdf_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *a, qf_err *err)
{
	(void)err;
	if (!a || a->n < 1) {
		x->st.skipped++;
		return 0;
	}
	qf__xout *o = &x->out;
	sdf_title(o, extra(x, cells, XE_NAME));
	qf__xout_puts(o, "  qforge          3D\n\n");
	/* Atoms only, each of zero valence (V2000 vvv 15, V3000 VAL=-1): no
	 * bonds are known and readers must not add hydrogens. */
	if (a->n <= 999) {
		qf__xout_printf(o, "%3d  0  0  0  0  0  0  0  0  0999 V2000\n", a->n);
		for (int i = 0; i < a->n; i++)
			qf__xout_printf(o, "%10.4f%10.4f%10.4f %-3s 0  0  0  0  0 15  0  0  0  0  0  0\n",
			                a->xyz[3 * i], a->xyz[3 * i + 1], a->xyz[3 * i + 2], symbol(a->z[i]));
		qf__xout_puts(o, "M  END\n");
	} else {
		qf__xout_puts(o, "  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\n");
		qf__xout_printf(o, "M  V30 COUNTS %d 0 0 0 0\nM  V30 BEGIN ATOM\n", a->n);
		for (int i = 0; i < a->n; i++)
			qf__xout_printf(o, "M  V30 %d %s %.6f %.6f %.6f 0 VAL=-1\n", i + 1, symbol(a->z[i]),
			                a->xyz[3 * i], a->xyz[3 * i + 1], a->xyz[3 * i + 2]);
		qf__xout_puts(o, "M  V30 END ATOM\nM  V30 END CTAB\nM  END\n");
	}
	const qf_qcell *id = extra(x, cells, XE_ID);
	sdf_field_start(o, "calculation_id");
	plain_text(o, id->s ? id->s : "", id->len);
	qf__xout_puts(o, "\n\n");
	for (int i = 0; i < x->nsel; i++) {
		if (cells[i].null || !strcmp(x->cols[i]->name, "id"))
			continue;
		sdf_field_start(o, x->cols[i]->name);
		plain_value(o, x->cols[i], &cells[i], false);
		qf__xout_puts(o, "\n\n");
	}
	if (a->has_charges) {
		sdf_field_start(o, "partial_charges_e");
		for (int i = 0; i < a->n; i++) {
			qf__xout_real(o, isnan(a->charge[i]) ? 0.0 : a->charge[i]);
			qf__xout_put(o, "\n", 1);
		}
		qf__xout_put(o, "\n", 1);
	}
	if (a->has_forces) {
		sdf_field_start(o, "forces_hartree_bohr");
		for (int i = 0; i < a->n; i++) {
			for (int k = 0; k < 3; k++) {
				if (k)
					qf__xout_put(o, " ", 1);
				double f = a->force[3 * i + k];
				qf__xout_real(o, isnan(f) ? 0.0 : f);
			}
			qf__xout_put(o, "\n", 1);
		}
		qf__xout_put(o, "\n", 1);
	}
	qf__xout_puts(o, "$$$$\n");
	x->st.rows++;
	return 0;
}

/* ---- QCSchema ------------------------------------------------------------------------ */

static const char *qc_method(const qf_qcell *m)
{
	static const struct {
		const char *ours, *theirs;
	} names[] = {{"gfn2", "GFN2-xTB"}, {"gfn1", "GFN1-xTB"}, {"gfn0", "GFN0-xTB"}, {"gfnff", "GFN-FF"}};
	for (size_t i = 0; !m->null && i < sizeof(names) / sizeof(names[0]); i++)
		if (m->len == strlen(names[i].ours) && !memcmp(m->s, names[i].ours, m->len))
			return names[i].theirs;
	return "xtb";
}

static int qc_begin(qf__exporter *x, qf_err *err)
{
	(void)err;
	qf__xout_put(&x->out, "[", 1);
	return 0;
}

static int qc_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *a, qf_err *err)
{
	(void)err;
	const qf_qcell *st = extra(x, cells, XE_STATUS), *e = extra(x, cells, XE_ENERGY);
	if (!a || a->n < 1 || e->null || st->null || st->len != 9 || memcmp(st->s, "completed", 9)) {
		x->st.skipped++;
		return 0;
	}
	qf__xout *o = &x->out;
	const qf_qcell *id = extra(x, cells, XE_ID), *name = extra(x, cells, XE_NAME);
	const qf_qcell *charge = extra(x, cells, XE_CHARGE), *uhf = extra(x, cells, XE_UHF);
	if (x->st.rows)
		qf__xout_put(o, ",\n", 2);
	qf__xout_puts(o, "{\"schema_name\":\"qcschema_output\",\"schema_version\":1,\"id\":");
	qf__xout_json_str(o, id->s ? id->s : "", id->len);
	qf__xout_puts(o, ",\"molecule\":{\"schema_name\":\"qcschema_molecule\",\"schema_version\":2,"
	                 "\"symbols\":[");
	for (int i = 0; i < a->n; i++)
		qf__xout_printf(o, "%s\"%s\"", i ? "," : "", symbol(a->z[i]));
	qf__xout_puts(o, "],\"geometry\":[");
	for (int i = 0; i < 3 * a->n; i++) {
		if (i)
			qf__xout_put(o, ",", 1);
		qf__xout_real(o, a->xyz[i] / QF__BOHR_A);
	}
	qf__xout_printf(o, "],\"molecular_charge\":%lld,\"molecular_multiplicity\":%lld,\"name\":",
	                charge->null ? 0LL : (long long)charge->i, uhf->null ? 1LL : (long long)uhf->i + 1);
	qf__xout_json_str(o, name->null ? "" : name->s, name->null ? 0 : name->len);
	bool gradient = a->has_forces;
	qf__xout_printf(o, "},\"driver\":\"%s\",\"model\":{\"method\":\"%s\",\"basis\":null},"
	                   "\"keywords\":{},\"provenance\":{\"creator\":\"Quantum Forge\",\"version\":\""
	                   QF_VERSION "\",\"routine\":\"qforge export\"},\"properties\":{"
	                   "\"return_energy\":",
	                gradient ? "gradient" : "energy", qc_method(extra(x, cells, XE_METHOD)));
	qf__xout_real(o, e->d);
	qf__xout_printf(o, ",\"calcinfo_natom\":%d},\"return_result\":", a->n);
	if (gradient) {
		qf__xout_put(o, "[", 1);
		for (int i = 0; i < 3 * a->n; i++) {
			if (i)
				qf__xout_put(o, ",", 1);
			double f = a->force[i];
			qf__xout_real(o, isnan(f) ? 0.0 : -f); /* the gradient, Eh/Bohr */
		}
		qf__xout_put(o, "]", 1);
	} else {
		qf__xout_real(o, e->d);
	}
	qf__xout_puts(o, ",\"success\":true,\"extras\":{\"qforge\":{");
	int k = 0;
	for (int i = 0; i < x->nsel; i++) {
		if (k++)
			qf__xout_put(o, ",", 1);
		qf__xout_json_str(o, x->cols[i]->name, strlen(x->cols[i]->name));
		qf__xout_put(o, ":", 1);
		qf__xout_json_cell(o, x->cols[i], &cells[i]);
	}
	if (a->has_charges) {
		qf__xout_puts(o, k ? ",\"partial_charges_e\":[" : "\"partial_charges_e\":[");
		for (int i = 0; i < a->n; i++) {
			if (i)
				qf__xout_put(o, ",", 1);
			if (isnan(a->charge[i]))
				qf__xout_puts(o, "null");
			else
				qf__xout_real(o, a->charge[i]);
		}
		qf__xout_put(o, "]", 1);
	}
	qf__xout_puts(o, "}}}");
	x->st.rows++;
	return 0;
}

static int qc_end(qf__exporter *x, qf_err *err)
{
	(void)err;
	qf__xout_put(&x->out, "]\n", 2);
	return 0;
}

const qf__xformat qf__xf_extxyz = {"extxyz", "xyz", "chemical/x-extxyz", true, false, NULL,
                                   extxyz_row, NULL, NULL};
const qf__xformat qf__xf_sdf = {"sdf", NULL, "chemical/x-mdl-sdfile", true, false, NULL, sdf_row, NULL,
                                NULL};
const qf__xformat qf__xf_qcschema = {"qcschema", NULL, "application/json", true, false, qc_begin,
                                     qc_row, qc_end, NULL};
