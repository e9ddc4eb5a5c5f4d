/*
 * Fuzz target: the query parsers (include/qf/query.h) over arbitrary bytes,
 * and the SQL they compile to. The first byte chooses the view (bit 2) and
 * the parser (bits 0-1): the ASE-style filter, a PostgREST query string
 * (then "\n" Range "\n" Prefer), a select list, an order. Every query a
 * parser accepts must run in the store (SQLite in a scratch directory,
 * local user; a few rows) without a database error: an accepted query that
 * compiles to SQL the database refuses aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/query.h"
#include "qf/store.h"

static qf_store *store;
static char dir[64];

static void cleanup(void)
{
	qf_store_close(store);
	qf_fs_rm_rf(dir);
}

static void open_store(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qforge-fuzz-query.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char url[128];
	snprintf(url, sizeof(url), "sqlite:%s/q.db", dir);
	qf_err err;
	qf_err_init(&err);
	if (qf_store_open(&store, url, NULL, &err)) {
		fprintf(stderr, "fuzz_query: %s\n", err.message);
		abort();
	}
	atexit(cleanup);
	/* a molecule with descriptors, a calculation with its atoms */
	qf_actor sys = qf_actor_system();
	static const char *const rows[][2] = {
		{"molecules", "{\"id\": \"01900000-0000-7000-8000-0000000000a1\", \"owner_id\": \""
		 QF_LOCAL_USER_ID "\", \"name\": \"water\", \"formula\": \"H2O\", \"natoms\": 3, "
		 "\"charge\": 0, \"uhf\": 0, \"atomic_numbers\": [8, 1, 1], \"coordinates\": [[0, 0, 0], "
		 "[0.96, 0, 0], [-0.24, 0.93, 0]], \"input_sha256\": \"a\", \"geometry_sha256\": \"b\", "
		 "\"smiles\": \"O\"}"},
		{"molecule_properties_computed", "{\"molecule_id\": \"01900000-0000-7000-8000-0000000000a1\", "
		 "\"owner_id\": \"" QF_LOCAL_USER_ID "\", \"molecular_weight\": 18.015, \"logp\": -0.82}"},
		{"calculations", "{\"id\": \"01900000-0000-7000-8000-0000000000c1\", \"molecule_id\": "
		 "\"01900000-0000-7000-8000-0000000000a1\", \"owner_id\": \"" QF_LOCAL_USER_ID "\", "
		 "\"method\": \"gfn2\", \"task\": \"sp\", \"optimization_level\": \"normal\", "
		 "\"charge\": 0, \"uhf\": 0, \"parameters\": {}, \"spec\": {}, \"status\": "
		 "\"completed\", \"total_energy\": -5.07, \"homo_lumo_gap\": 14.5, \"is_converged\": true}"},
		{"calculations", "{\"id\": \"01900000-0000-7000-8000-0000000000c2\", \"molecule_id\": "
		 "\"01900000-0000-7000-8000-0000000000a1\", \"owner_id\": \"" QF_LOCAL_USER_ID "\", "
		 "\"method\": \"gfn1\", \"task\": \"opt\", \"optimization_level\": \"tight\", "
		 "\"charge\": 0, \"uhf\": 0, \"parameters\": {}, \"spec\": {}, \"status\": \"queued\"}"},
		{"atomic_properties", "{\"calculation_id\": \"01900000-0000-7000-8000-0000000000c1\", "
		 "\"atom_index\": 0, \"owner_id\": \"" QF_LOCAL_USER_ID "\", \"atomic_number\": 8, "
		 "\"element\": \"O\", \"x\": 0, \"y\": 0, \"z\": 0, \"partial_charge\": -0.6}"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *row = json_loads(rows[i][1], 0, NULL);
		if (!row || qf_store_insert(store, &sys, rows[i][0], row, NULL, &err)) {
			fprintf(stderr, "fuzz_query: fixture %s: %s\n", rows[i][0], err.message);
			abort();
		}
		json_decref(row);
	}
}

static int on_row(void *ctx, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)ctx;
	(void)cells;
	(void)atoms;
	(void)err;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	if (!store)
		open_store();
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	const qf_qview *v = qf_store_view(data[0] & 4 ? "molecules" : "calculations");
	qf_query q;
	qf_query_init(&q, v);
	qf_err err;
	qf_err_init(&err);
	int rc;
	switch (data[0] & 3) {
	case 0: rc = qf_query_parse_filter(&q, text, &err); break;
	case 1: {
		char *range = strchr(text, '\n'), *prefer = NULL;
		if (range) {
			*range++ = '\0';
			if ((prefer = strchr(range, '\n')))
				*prefer++ = '\0';
		}
		rc = qf_query_parse_postgrest(&q, text, range, prefer, &err);
		break;
	}
	case 2: rc = qf_query_parse_select(&q, text, &err); break;
	default: rc = qf_query_parse_order(&q, text, &err); break;
	}
	if (rc && (err.category != QF_CAT_VALIDATION || strncmp(err.code, "query.", 6)) &&
	    rc != QF_ENOMEM) {
		fprintf(stderr, "parser failed outside validation: %s %s\n", err.code, err.message);
		abort();
	}
	if (!rc) {
		char cr[64];
		qf_query_content_range(&q, 3, 10, cr, sizeof(cr));
		qf_actor me = qf_actor_local();
		qf_select_cb cb = {.row = on_row, .atoms = qf_qview_has_atoms(v) && (data[0] & 8)};
		qf_err_init(&err);
		if (qf_store_select(store, &me, &q, &cb, NULL, &err)) {
			fprintf(stderr, "accepted query failed in the store: %s: %s\n", err.code, err.message);
			abort();
		}
	}
	qf_query_release(&q);
	free(text);
	return 0;
}
