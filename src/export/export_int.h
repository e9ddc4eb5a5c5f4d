/*
 * Inside the exporters: the buffered output every streaming format writes
 * through, number and string formatting, and the table of formats
 * (export.c dispatches; text.c, structure.c and hdf5.c implement).
 */
#ifndef QF_EXPORT_INT_H
#define QF_EXPORT_INT_H

#include "qf/buf.h"
#include "qf/export.h"

/* Bytes gathered before they go to the write callback. */
#define QF__XOUT_FLUSH (64 * 1024)

typedef struct qf__xout {
	qf_buf b;
	qf_write_fn write;
	void *ctx;
	int64_t bytes;
	int rc; /* sticky: the first failure */
} qf__xout;

void qf__xout_init(qf__xout *o, qf_write_fn write, void *ctx);
void qf__xout_release(qf__xout *o);
void qf__xout_put(qf__xout *o, const char *s, size_t len);
void qf__xout_puts(qf__xout *o, const char *s);
void qf__xout_printf(qf__xout *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The shortest text that reads back as d ("%.15g", else "%.17g"). */
void qf__xout_real(qf__xout *o, double d);
/* A JSON string (quoted, escaped). */
void qf__xout_json_str(qf__xout *o, const char *s, size_t len);
/* A cell as JSON (null, number, true/false, string). */
void qf__xout_json_cell(qf__xout *o, const qf_qcolumn *c, const qf_qcell *v);
/* Flush when the buffer is full (force: always). Returns o->rc. */
int qf__xout_flush(qf__xout *o, bool force);

/* The real as the shortest text that reads back as it (buf >= 32). */
void qf__fmt_real(char *buf, size_t size, double d);

/* The columns every structure format reads besides the selection (view
 * "calculations"), in this order. */
enum { XE_ID = 0, XE_NAME, XE_CHARGE, XE_UHF, XE_METHOD, XE_STATUS, XE_ENERGY, XE_N };

typedef struct qf__exporter {
	const qf_query *q;
	const qf_export_opts *o;
	qf__xout out;
	int nsel;
	const qf_qcolumn **cols; /* selected columns */
	const char **labels;     /* their labels (as asked) */
	int extra[XE_N];         /* view column indices of the extra columns */
	int nextra;
	qf_export_stats st;
	void *state; /* the format's own (hdf5) */
} qf__exporter;

typedef struct qf__xformat {
	const char *name;
	const char *alias;
	const char *content_type;
	bool structure; /* needs the calculations view, atoms and the extra columns */
	bool path;      /* writes a file (hdf5) */
	int (*begin)(qf__exporter *x, qf_err *err);
	int (*row)(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err);
	int (*end)(qf__exporter *x, qf_err *err);
	void (*abort)(qf__exporter *x); /* release after a failure (may be NULL) */
} qf__xformat;

extern const qf__xformat qf__xf_csv, qf__xf_jsonl, qf__xf_json, qf__xf_table;
extern const qf__xformat qf__xf_extxyz, qf__xf_sdf, qf__xf_qcschema, qf__xf_hdf5;

/* Hartree in eV (CODATA 2018, as qforge run prints) and Bohr in Angstrom. */
#define QF__HARTREE_EV 27.211386245988
#define QF__BOHR_A 0.529177210903

#endif
