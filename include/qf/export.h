/*
 * Exports: the rows of a query (include/qf/query.h) written, as they
 * stream out of the store, in the formats ML tools read:
 *
 *   csv       RFC 4180, a header of column names with their units
 *             (total_energy_hartree, homo_lumo_gap_ev, ...)
 *   jsonl     one JSON object per row, the same keys
 *   json      one JSON array of those objects (PostgREST's response body)
 *   table     aligned text for a terminal
 *   extxyz    extended XYZ, one frame per calculation, as ASE reads it:
 *             Properties=species:S:1:pos:R:3[:charges:R:1][:forces:R:3];
 *             energy in eV and forces in eV/A (ASE's units; Eh -> eV with
 *             27.211386245988, Bohr 0.529177210903 A), and every selected
 *             column (total_energy_hartree, descriptors, ...) as a frame key
 *   sdf       one record per calculation: the final geometry (atoms only,
 *             each with zero valence so no hydrogens are implied; V3000
 *             above 999 atoms) and the selected columns as data fields,
 *             plus partial charges as a field
 *   hdf5      TorchANI-style: one group per formula (atoms in order of
 *             atomic number), datasets species (element symbols),
 *             coordinates (n, atoms, 3) A, energies (n) Eh, forces
 *             (n, atoms, 3) Eh/A (NaN when not computed), calculation_ids
 *   qcschema  a JSON array of QCSchema AtomicResult documents
 *             (qcschema_output v1; geometry in Bohr; return_result the
 *             energy, or the gradient when forces are known)
 *
 * Structure formats (extxyz, sdf, hdf5, qcschema) need the calculations
 * view; rows without an energy are skipped by hdf5, rows not completed by
 * qcschema (counted in skipped). Every format but hdf5 streams to a write
 * callback with a bounded buffer; HDF5 is a file format (random access):
 * it writes to a path, appending to chunked datasets, so memory stays flat
 * there too (an HTTP handler exports to a temporary file and sends it).
 *
 * Every export, finished or failed, is recorded in the audit log
 * (user_audit_log, action data_export) with its format, query and counts.
 */
#ifndef QF_EXPORT_H
#define QF_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/query.h"

struct qf_store;
struct qf_actor;

typedef enum qf_export_format {
	QF_EXPORT_CSV = 0,
	QF_EXPORT_JSONL,
	QF_EXPORT_JSON,
	QF_EXPORT_TABLE,
	QF_EXPORT_EXTXYZ,
	QF_EXPORT_SDF,
	QF_EXPORT_HDF5,
	QF_EXPORT_QCSCHEMA,
} qf_export_format;

/* "csv", "jsonl", "json", "table", "extxyz" (also "xyz"), "sdf", "hdf5"
 * (also "h5"), "qcschema"; QF_EINVAL (export.format) otherwise. */
int qf_export_format_parse(const char *name, qf_export_format *out, qf_err *err);
const char *qf_export_format_name(qf_export_format f);
/* The MIME type of a download ("text/csv", "application/x-hdf5", ...). */
const char *qf_export_content_type(qf_export_format f);
/* Whether the format writes to a path instead of a write callback. */
bool qf_export_needs_path(qf_export_format f);

/* Receives the bytes of a streaming export; 0, or non-zero to stop (the
 * export then fails with export.write). */
typedef int (*qf_write_fn)(void *ctx, const void *data, size_t len);

typedef struct qf_export_opts {
	qf_export_format format;
	qf_write_fn write; /* streaming formats */
	void *ctx;
	const char *path;  /* hdf5: the file to create (replaced) */
	/* the audit entry: what was asked (the filter text or query string),
	 * from where (may be NULL) */
	const char *query_text;
	const char *ip_address;
	const char *user_agent;
	/* called once before the first byte, with the number of matching rows
	 * when the query asked for a count (q->count), else -1: an HTTP handler
	 * sends its status and headers (Content-Range) here. May be NULL. */
	int (*on_begin)(void *ctx, int64_t total);
} qf_export_opts;

typedef struct qf_export_stats {
	int64_t rows;    /* rows written */
	int64_t skipped; /* rows the format could not hold */
	int64_t bytes;   /* bytes written (hdf5: the file's size) */
	int64_t total;   /* matching rows when counted (q->count), else -1 */
} qf_export_stats;

/* Run q for actor a and write its rows: an export (a download), recorded
 * in the audit log. stats may be NULL. */
int qf_export_run(struct qf_store *s, const struct qf_actor *a, const qf_query *q,
                  const qf_export_opts *o, qf_export_stats *stats, qf_err *err);

/* The same without the audit entry: rows as the answer to a read (qforge
 * query, a PostgREST GET answered as json or csv). */
int qf_export_write(struct qf_store *s, const struct qf_actor *a, const qf_query *q,
                    const qf_export_opts *o, qf_export_stats *stats, qf_err *err);

#endif
