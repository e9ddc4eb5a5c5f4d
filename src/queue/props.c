/*
 * Descriptors of stored molecules, off the request path
 * (include/qf/props.h): fetch the molecules that need them in chunks, compute
 * each (RDKit; Open Babel for geometries), write its row. Called by workers
 * between jobs (a few at a time) and by `qforge props recompute`. A
 * molecule that cannot be described (validation) gets a row with the error,
 * so it is not tried again until a recompute; a system failure (obabel
 * missing) stores nothing.
 */
#include <string.h>

#include "qf/props.h"
#include "qf/store.h"
#include "qf/str.h"

int qf_props_update(qf_store *s, const qf_actor *a, const qf_props_update_opts *o,
                    qf_props_stats *stats, qf_err *err)
{
	qf_props_update_opts none = {0};
	if (!o)
		o = &none;
	qf_props_stats st = {0};
	char after[QF_UUID_STR] = "";
	qf_props_todo todo[QF_PROPS_CHUNK];
	int rc = 0;
	for (;;) {
		int max = QF_PROPS_CHUNK;
		int64_t done = st.computed + st.failed;
		if (o->limit > 0 && o->limit - done < max)
			max = (int)(o->limit - done);
		if (max <= 0)
			break;
		int n = 0;
		if ((rc = qf_store_props_todo(s, a, o->all, after, max, todo, &n, err)) || n == 0)
			break;
		for (int i = 0; i < n; i++) {
			qf_props_todo *t = &todo[i];
			qf_strlcpy(after, t->molecule_id, sizeof(after));
			if (rc)
				continue; /* released below */
			qf_props_input in = {.smiles = t->smiles,
			                     .molblock = t->molblock,
			                     .molblock_len = t->molblock ? strlen(t->molblock) : 0,
			                     .geometry = &t->mol};
			qf_props p;
			qf_props_init(&p);
			qf_err why;
			qf_err_init(&why);
			int crc = qf_props_compute(&in, &p, &why);
			if (crc == QF_ENOMEM) {
				*err = why;
				rc = crc;
			} else if (crc && why.category != QF_CAT_VALIDATION) {
				/* obabel or the module missing: not the molecule's fault,
				 * so nothing is stored and a later update tries again */
				st.failed++;
				if (o->progress)
					o->progress(o->ctx, t->molecule_id, &why);
			} else {
				rc = qf_store_props_put(s, a, t->molecule_id, crc ? NULL : &p, crc ? &why : NULL, err);
				if (rc == QF_ENOENT) /* deleted meanwhile */
					rc = 0;
				else if (!rc)
					crc ? st.failed++ : st.computed++;
				if (!rc && o->progress)
					o->progress(o->ctx, t->molecule_id, crc ? &why : NULL);
			}
			qf_props_release(&p);
		}
		for (int i = 0; i < n; i++)
			qf_props_todo_release(&todo[i]);
		if (rc || n < max)
			break;
	}
	if (stats)
		*stats = st;
	return rc;
}
