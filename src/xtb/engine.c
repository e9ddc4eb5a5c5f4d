/* The in-process xTB executor, parent side, and the wire format: see
 * include/qf/engine.h.
 *
 * Starting a child follows src/core/proc.c (libuv, git run-command): the
 * argv, the complete envp, the limits and the signal action are prepared
 * before fork(); the child only makes async-signal-safe calls and reports a
 * failure before execve() through a close-on-exec pipe. The child's end of
 * the socketpair is close-on-exec like everything else in the parent, and
 * only the forked child clears the flag, so a child started concurrently by
 * another thread never inherits it. Writes use MSG_NOSIGNAL: a dead child
 * must not kill the supervisor with SIGPIPE. After a timeout or a death the
 * child's group is killed while the child is still unreaped (a zombie keeps
 * its pid, and so the group id, from being reused), then it is reaped.
 */
#include "qf/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/str.h"
#include "qf/xtbparse.h"

extern char **environ;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The OpenMP stack of xtb's one thread: reserved address space, so the
 * address-space limit is raised by this much (as in src/xtb/runner.c). */
#define XTB_OMP_STACK_MB 1024L

/* xtb's conversions, so that the engine's numbers are the CLI's: Hartree to
 * eV as xtb prints orbital energies and the gap (xtb_mctc_convert autoev),
 * and e*Bohr to Debye as the notes and the CLI parser use. */
#define XTB_AUTOEV 27.21138505
#define XTB_AU_TO_DEBYE 2.541746

/* Poll tick while waiting for a child to exit after its socket is closed. */
#define EXIT_TICK_MS 10

/* Descriptors the close-on-exec fallback loop walks (kernels before 5.11). */
#define FALLBACK_MAX_FD 65536

#if defined(__SANITIZE_ADDRESS__)
#define QF_ENGINE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QF_ENGINE_ASAN 1
#endif
#endif

struct qf_engine {
	char program[QF_MAX_PATH]; /* what we exec */
	pid_t pid;                 /* -1: no child */
	int sock;                  /* our end of the socketpair, -1: none */
	char scratch[QF_MAX_PATH]; /* the child's working directory, "" none */
	uint32_t seq;
	char xtb_version[32];      /* from the child's hello */
	bool ran_gfn0;             /* the child has run GFN0: see qf_engine_run */
};

/* ======================================================================
 * Wire format
 * ====================================================================== */

static int protocol(qf_err *err, const char *what)
{
	return qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol", "malformed xtb engine message: %s",
	                  what);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_u16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Start a message: the header with a zero length, fixed by finish(). */
static int begin(qf_buf *b, uint32_t type, uint32_t seq, size_t *start)
{
	unsigned char h[QF__ENGINE_HEADER];
	put_u32(h, QF__ENGINE_MAGIC);
	put_u16(h + 4, (uint16_t)QF__ENGINE_VERSION);
	put_u16(h + 6, (uint16_t)type);
	put_u32(h + 8, 0);
	put_u32(h + 12, seq);
	*start = b->len;
	return qf_buf_append(b, h, sizeof(h));
}

static int finish(qf_buf *b, size_t start, int rc, qf_err *err)
{
	if (rc == 0 && b->len - start > (size_t)QF_ENGINE_MAX_MESSAGE)
		rc = QF_EINVAL;
	if (rc)
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol",
		                  "an xtb engine message would exceed %ld bytes (QF_ENGINE_MAX_MESSAGE)",
		                  (long)QF_ENGINE_MAX_MESSAGE);
	put_u32((unsigned char *)b->data + start + 8, (uint32_t)(b->len - start - QF__ENGINE_HEADER));
	return 0;
}

static int put_i32(qf_buf *b, int32_t v)
{
	return qf_buf_append(b, &v, sizeof(v));
}

static int put_f64(qf_buf *b, double v)
{
	return qf_buf_append(b, &v, sizeof(v));
}

static int put_f64s(qf_buf *b, const double *v, size_t n)
{
	return n ? qf_buf_append(b, v, n * sizeof(*v)) : 0;
}

/* A fixed-size text field, NUL-padded. */
static int put_text(qf_buf *b, const char *s, size_t size)
{
	char field[QF_MAX_ERR_MSG];
	if (size > sizeof(field))
		return QF_EINVAL;
	memset(field, 0, size);
	qf_strlcpy(field, s ? s : "", size);
	return qf_buf_append(b, field, size);
}

/* A cursor over a received payload: every get_ checks the length first. */
struct rd {
	const unsigned char *p;
	size_t len, off;
	bool bad;
	const char *why;
};

static bool need(struct rd *r, size_t n, const char *why)
{
	if (r->bad)
		return false;
	if (n > r->len - r->off) {
		r->bad = true;
		r->why = why;
		return false;
	}
	return true;
}

static int32_t get_i32(struct rd *r, const char *why)
{
	int32_t v = 0;
	if (need(r, sizeof(v), why)) {
		memcpy(&v, r->p + r->off, sizeof(v));
		r->off += sizeof(v);
	}
	return v;
}

static double get_f64(struct rd *r, const char *why)
{
	double v = 0;
	if (need(r, sizeof(v), why)) {
		memcpy(&v, r->p + r->off, sizeof(v));
		r->off += sizeof(v);
		if (!isfinite(v)) {
			r->bad = true;
			r->why = "a value that is not a finite number";
			v = 0;
		}
	}
	return v;
}

/* n doubles into a new array (NULL for n == 0 or on failure). */
static double *get_f64s(struct rd *r, size_t n, const char *why)
{
	if (n == 0 || r->bad)
		return NULL;
	if (n > (r->len - r->off) / sizeof(double)) {
		r->bad = true;
		r->why = why;
		return NULL;
	}
	double *v = malloc(n * sizeof(*v));
	if (!v) {
		r->bad = true;
		r->why = "out of memory";
		return NULL;
	}
	for (size_t i = 0; i < n && !r->bad; i++)
		v[i] = get_f64(r, why);
	return v;
}

/* A fixed-size text field: must hold a NUL; copied into out (size bytes). */
static void get_text(struct rd *r, char *out, size_t size, const char *why)
{
	out[0] = '\0';
	if (!need(r, size, why))
		return;
	const char *s = (const char *)r->p + r->off;
	if (!memchr(s, '\0', size)) {
		r->bad = true;
		r->why = "an unterminated text field";
		return;
	}
	qf_strlcpy(out, s, size);
	r->off += size;
}

int qf__engine_decode_header(const void *hdr, uint32_t *type, uint32_t *payload_len,
                             uint32_t *seq, qf_err *err)
{
	const unsigned char *h = hdr;
	uint32_t magic, len, s;
	uint16_t version, t;
	memcpy(&magic, h, 4);
	memcpy(&version, h + 4, 2);
	memcpy(&t, h + 6, 2);
	memcpy(&len, h + 8, 4);
	memcpy(&s, h + 12, 4);
	if (magic != QF__ENGINE_MAGIC)
		return protocol(err, "bad magic number (is the program qforge?)");
	if (version != QF__ENGINE_VERSION)
		return protocol(err, "unknown protocol version (parent and child are different qforge builds)");
	if (t != QF__ENGINE_HELLO && t != QF__ENGINE_REQUEST && t != QF__ENGINE_REPLY)
		return protocol(err, "unknown message type");
	if ((uint64_t)len > (uint64_t)QF_ENGINE_MAX_MESSAGE - QF__ENGINE_HEADER)
		return protocol(err, "message longer than QF_ENGINE_MAX_MESSAGE");
	*type = t;
	*payload_len = len;
	*seq = s;
	return 0;
}

/* Header of a whole message of the expected type; r set to its payload. */
static int open_message(const void *msg, size_t len, uint32_t want_type, uint32_t *seq,
                        struct rd *r, qf_err *err)
{
	if (!msg || len < QF__ENGINE_HEADER)
		return protocol(err, "shorter than a message header");
	uint32_t type = 0, plen = 0;
	int rc = qf__engine_decode_header(msg, &type, &plen, seq, err);
	if (rc)
		return rc;
	if (type != want_type)
		return protocol(err, "unexpected message type");
	if ((size_t)plen != len - QF__ENGINE_HEADER)
		return protocol(err, "payload length does not match the header");
	memset(r, 0, sizeof(*r));
	r->p = (const unsigned char *)msg + QF__ENGINE_HEADER;
	r->len = plen;
	return 0;
}

static int close_message(struct rd *r, qf_err *err)
{
	if (r->bad)
		return protocol(err, r->why ? r->why : "truncated");
	if (r->off != r->len)
		return protocol(err, "trailing bytes after the payload");
	return 0;
}

/* ---- hello ----------------------------------------------------------- */

int qf__engine_encode_hello(qf_buf *b, const qf__engine_hello *h, qf_err *err)
{
	size_t start;
	int rc = begin(b, QF__ENGINE_HELLO, 0, &start);
	if (!rc)
		rc = put_i32(b, h->pid);
	if (!rc)
		rc = put_i32(b, h->api_version);
	if (!rc)
		rc = put_text(b, h->xtb_version, sizeof(h->xtb_version));
	return finish(b, start, rc, err);
}

int qf__engine_decode_hello(const void *msg, size_t len, qf__engine_hello *h, qf_err *err)
{
	struct rd r = {0};
	uint32_t seq;
	memset(h, 0, sizeof(*h));
	int rc = open_message(msg, len, QF__ENGINE_HELLO, &seq, &r, err);
	if (rc)
		return rc;
	h->pid = get_i32(&r, "truncated hello");
	h->api_version = get_i32(&r, "truncated hello");
	get_text(&r, h->xtb_version, sizeof(h->xtb_version), "truncated hello");
	rc = close_message(&r, err);
	if (!rc && h->pid <= 0)
		rc = protocol(err, "hello with an impossible process id");
	if (!rc && h->xtb_version[0] && strspn(h->xtb_version, "0123456789.") != strlen(h->xtb_version))
		rc = protocol(err, "hello with a malformed xtb version");
	if (rc)
		memset(h, 0, sizeof(*h));
	return rc;
}

/* ---- request ----------------------------------------------------------- */

void qf__engine_request_release(qf__engine_request *rq)
{
	free(rq->z);
	free(rq->xyz);
	rq->z = NULL;
	rq->xyz = NULL;
	rq->natoms = 0;
}

int qf__engine_encode_request(qf_buf *b, uint32_t seq, const qf__engine_request *rq, qf_err *err)
{
	size_t start;
	int rc = begin(b, QF__ENGINE_REQUEST, seq, &start);
	if (!rc)
		rc = put_i32(b, rq->method);
	if (!rc)
		rc = put_i32(b, rq->charge);
	if (!rc)
		rc = put_i32(b, rq->uhf);
	if (!rc)
		rc = put_i32(b, rq->max_iterations);
	if (!rc)
		rc = put_f64(b, rq->etemp);
	if (!rc)
		rc = put_f64(b, rq->accuracy);
	if (!rc)
		rc = put_text(b, rq->solvent, sizeof(rq->solvent));
	if (!rc)
		rc = put_i32(b, rq->natoms);
	for (int i = 0; !rc && i < rq->natoms; i++)
		rc = put_i32(b, rq->z[i]);
	if (!rc && rq->natoms > 0)
		rc = put_f64s(b, rq->xyz, 3 * (size_t)rq->natoms);
	return finish(b, start, rc, err);
}

int qf__engine_decode_request(const void *msg, size_t len, uint32_t *seq,
                              qf__engine_request *rq, qf_err *err)
{
	struct rd r = {0};
	memset(rq, 0, sizeof(*rq));
	int rc = open_message(msg, len, QF__ENGINE_REQUEST, seq, &r, err);
	if (rc)
		return rc;
	rq->method = get_i32(&r, "truncated request");
	rq->charge = get_i32(&r, "truncated request");
	rq->uhf = get_i32(&r, "truncated request");
	rq->max_iterations = get_i32(&r, "truncated request");
	rq->etemp = get_f64(&r, "truncated request");
	rq->accuracy = get_f64(&r, "truncated request");
	get_text(&r, rq->solvent, sizeof(rq->solvent), "truncated request");
	int32_t n = get_i32(&r, "truncated request");
	if (r.bad)
		return close_message(&r, err);
	if (rq->method != QF_METHOD_GFN2 && rq->method != QF_METHOD_GFN1 && rq->method != QF_METHOD_GFN0)
		return protocol(err, "request for a method the engine does not run");
	if (rq->charge < -QF_MAX_ABS_CHARGE || rq->charge > QF_MAX_ABS_CHARGE || rq->uhf < 0 ||
	    rq->uhf > QF_MAX_UHF || rq->max_iterations < 1 ||
	    rq->max_iterations > QF_MAX_SCC_ITERATIONS || !(rq->etemp >= QF_MIN_ETEMP) ||
	    !(rq->etemp <= QF_MAX_ETEMP) || !(rq->accuracy >= QF_MIN_ACCURACY) ||
	    !(rq->accuracy <= QF_MAX_ACCURACY))
		return protocol(err, "request with a setting out of range");
	if (n < 1 || n > QF_MAX_ATOMS)
		return protocol(err, "request with an impossible atom count");
	/* The counts must fit the payload before anything is allocated. */
	if ((size_t)n * (sizeof(int32_t) + 3 * sizeof(double)) != r.len - r.off)
		return protocol(err, "request whose atom count does not match its length");
	rq->z = malloc((size_t)n * sizeof(*rq->z));
	if (!rq->z)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading an xtb engine request");
	rq->natoms = n;
	for (int i = 0; i < n; i++) {
		rq->z[i] = get_i32(&r, "truncated request");
		if (rq->z[i] < 1 || rq->z[i] > QF_MAX_Z) {
			r.bad = true;
			r.why = "request with an impossible atomic number";
			break;
		}
	}
	rq->xyz = get_f64s(&r, 3 * (size_t)n, "truncated request");
	rc = close_message(&r, err);
	if (rc)
		qf__engine_request_release(rq);
	return rc;
}

/* ---- reply --------------------------------------------------------------- */

void qf__engine_reply_init(qf__engine_reply *rp)
{
	memset(rp, 0, sizeof(*rp));
	rp->scf_cycles = -1;
}

void qf__engine_reply_release(qf__engine_reply *rp)
{
	free(rp->gradient);
	free(rp->charges);
	free(rp->bonds);
	free(rp->orbital_energies);
	free(rp->occupations);
	qf__engine_reply_init(rp);
}

int qf__engine_encode_reply(qf_buf *b, uint32_t seq, const qf__engine_reply *rp, qf_err *err)
{
	size_t start;
	int rc = begin(b, QF__ENGINE_REPLY, seq, &start);
	if (!rc)
		rc = put_i32(b, rp->status);
	if (!rc)
		rc = put_text(b, rp->message, sizeof(rp->message));
	if (!rc)
		rc = put_i32(b, rp->scf_cycles);
	if (!rc)
		rc = put_f64(b, rp->wall_time);
	if (!rc)
		rc = put_f64(b, rp->cpu_time);
	if (!rc)
		rc = put_f64(b, rp->maxrss_mb);
	if (rc || rp->status != QF__ENGINE_OK)
		return finish(b, start, rc, err);
	size_t n = rp->natoms > 0 ? (size_t)rp->natoms : 0;
	rc = put_f64(b, rp->energy);
	if (!rc)
		rc = put_f64s(b, rp->dipole, 3);
	if (!rc)
		rc = put_i32(b, rp->natoms);
	if (!rc)
		rc = put_f64s(b, rp->gradient, 3 * n);
	if (!rc)
		rc = put_f64s(b, rp->charges, n);
	if (!rc)
		rc = put_i32(b, rp->nbonds);
	for (int k = 0; !rc && k < rp->nbonds; k++) {
		rc = put_i32(b, rp->bonds[k].i);
		if (!rc)
			rc = put_i32(b, rp->bonds[k].j);
		if (!rc)
			rc = put_f64(b, rp->bonds[k].order);
	}
	if (!rc)
		rc = put_i32(b, rp->norbitals);
	if (!rc && rp->norbitals > 0) {
		rc = put_f64s(b, rp->orbital_energies, (size_t)rp->norbitals);
		if (!rc)
			rc = put_f64s(b, rp->occupations, (size_t)rp->norbitals);
	}
	return finish(b, start, rc, err);
}

int qf__engine_decode_reply(const void *msg, size_t len, uint32_t seq, int natoms,
                            qf__engine_reply *rp, qf_err *err)
{
	struct rd r = {0};
	uint32_t got_seq;
	qf__engine_reply_init(rp);
	int rc = open_message(msg, len, QF__ENGINE_REPLY, &got_seq, &r, err);
	if (rc)
		return rc;
	if (got_seq != seq)
		return protocol(err, "answer to another request (sequence number)");
	rp->status = get_i32(&r, "truncated reply");
	get_text(&r, rp->message, sizeof(rp->message), "truncated reply");
	rp->scf_cycles = get_i32(&r, "truncated reply");
	rp->wall_time = get_f64(&r, "truncated reply");
	rp->cpu_time = get_f64(&r, "truncated reply");
	rp->maxrss_mb = get_f64(&r, "truncated reply");
	if (!r.bad) {
		if (rp->status < QF__ENGINE_OK || rp->status > QF__ENGINE_BAD_REQUEST)
			rc = protocol(err, "unknown reply status");
		else if (rp->scf_cycles < -1 || rp->scf_cycles > QF_MAX_SCC_ITERATIONS)
			rc = protocol(err, "impossible SCC iteration count");
		else if (rp->wall_time < 0 || rp->cpu_time < 0 || rp->maxrss_mb < 0)
			rc = protocol(err, "negative time or memory");
		if (rc)
			goto out;
	}
	if (r.bad || rp->status != QF__ENGINE_OK) {
		rc = close_message(&r, err);
		goto out;
	}
	rp->energy = get_f64(&r, "truncated reply");
	for (int k = 0; k < 3; k++)
		rp->dipole[k] = get_f64(&r, "truncated reply");
	rp->natoms = get_i32(&r, "truncated reply");
	if (!r.bad && rp->natoms != natoms) {
		rc = protocol(err, "answer for a different number of atoms");
		goto out;
	}
	size_t n = (size_t)natoms;
	rp->gradient = get_f64s(&r, 3 * n, "truncated gradient");
	rp->charges = get_f64s(&r, n, "truncated charges");
	rp->nbonds = get_i32(&r, "truncated bond list");
	if (!r.bad) {
		/* Each bond is 16 bytes: a count the payload cannot hold is garbage,
		 * and so is one above the number of atom pairs. */
		size_t pairs = n * (n - 1) / 2;
		if (rp->nbonds < 0 || (size_t)rp->nbonds > pairs ||
		    (size_t)rp->nbonds > (r.len - r.off) / 16) {
			rc = protocol(err, "impossible bond count");
			goto out;
		}
		if (rp->nbonds > 0 && !(rp->bonds = malloc((size_t)rp->nbonds * sizeof(*rp->bonds)))) {
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
			                  "out of memory reading an xtb engine answer");
			goto out;
		}
	}
	for (int k = 0; !r.bad && k < rp->nbonds; k++) {
		qf_bond *bd = &rp->bonds[k];
		bd->i = get_i32(&r, "truncated bond list");
		bd->j = get_i32(&r, "truncated bond list");
		bd->order = get_f64(&r, "truncated bond list");
		if (!r.bad && (bd->i < 0 || bd->j <= bd->i || bd->j >= natoms)) {
			r.bad = true;
			r.why = "a bond between impossible atoms";
		}
	}
	rp->norbitals = get_i32(&r, "truncated orbitals");
	if (!r.bad && (rp->norbitals < 0 || (size_t)rp->norbitals > (r.len - r.off) / 16)) {
		rc = protocol(err, "impossible orbital count");
		goto out;
	}
	rp->orbital_energies = get_f64s(&r, (size_t)rp->norbitals, "truncated orbitals");
	rp->occupations = get_f64s(&r, (size_t)rp->norbitals, "truncated orbitals");
	for (int k = 0; !r.bad && k < rp->norbitals; k++) {
		if (rp->occupations[k] < -1e-6 || rp->occupations[k] > 2 + 1e-6) {
			r.bad = true;
			r.why = "an orbital occupation outside 0..2";
		}
	}
	rc = close_message(&r, err);
out:
	if (rc)
		qf__engine_reply_release(rp);
	return rc;
}

/* ======================================================================
 * I/O on the socket, bounded by a deadline (monotonic seconds; 0: none)
 * ====================================================================== */

enum io_result { IO_OK = 0, IO_EOF, IO_TIMEOUT, IO_ERROR };

static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		int ms = -1;
		if (deadline > 0) {
			double left = deadline - qf_clock_mono();
			if (left <= 0)
				return IO_TIMEOUT;
			ms = left * 1000.0 > INT_MAX ? INT_MAX : (int)ceil(left * 1000.0);
		}
		struct pollfd p = {.fd = fd, .events = events};
		int k = poll(&p, 1, ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return IO_ERROR;
		if (k > 0)
			return IO_OK; /* readable, writable, hung up or in error: the call tells */
	}
}

static int read_full(int fd, void *buf, size_t len, double deadline)
{
	unsigned char *p = buf;
	while (len) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w != IO_OK)
			return w;
		ssize_t k = recv(fd, p, len, MSG_DONTWAIT);
		if (k == 0)
			return IO_EOF;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? IO_EOF : IO_ERROR;
		}
		p += k;
		len -= (size_t)k;
	}
	return IO_OK;
}

static int write_full(int fd, const void *buf, size_t len, double deadline)
{
	const unsigned char *p = buf;
	while (len) {
		int w = wait_fd(fd, POLLOUT, deadline);
		if (w != IO_OK)
			return w;
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? IO_EOF : IO_ERROR;
		}
		p += k;
		len -= (size_t)k;
	}
	return IO_OK;
}

/* Read one whole message (header and payload, heap) of any type. */
static int read_message(int fd, double deadline, unsigned char **out, size_t *out_len,
                        uint32_t *type, qf_err *err)
{
	unsigned char h[QF__ENGINE_HEADER];
	*out = NULL;
	int io = read_full(fd, h, sizeof(h), deadline);
	if (io != IO_OK)
		return io;
	uint32_t plen = 0, seq = 0;
	if (qf__engine_decode_header(h, type, &plen, &seq, err))
		return -1;
	unsigned char *msg = malloc(QF__ENGINE_HEADER + (size_t)plen);
	if (!msg) {
		qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		             "out of memory reading an xtb engine message of %u bytes", plen);
		return -1;
	}
	memcpy(msg, h, sizeof(h));
	io = read_full(fd, msg + QF__ENGINE_HEADER, plen, deadline);
	if (io != IO_OK) {
		free(msg);
		return io;
	}
	*out = msg;
	*out_len = QF__ENGINE_HEADER + (size_t)plen;
	return IO_OK;
}

/* ======================================================================
 * The child process
 * ====================================================================== */

/* Everything the forked child uses, computed before fork(). */
struct plan {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int sock;      /* the child's end; its close-on-exec flag is cleared */
	int null_in;   /* /dev/null for stdin */
	int null_out;  /* /dev/null for stdout (GFN-FF and friends print there) */
	int report_fd; /* write end of the exec report pipe (close-on-exec) */
	bool set_as;
	struct rlimit as;
	struct rlimit stack;
	int max_fd;
	struct sigaction dfl;
};

struct child_report {
	int stage;
	int err;
};

enum { STAGE_FD = 1, STAGE_CWD, STAGE_RLIMIT, STAGE_EXEC };

static void child_fail(int fd, int stage, int e) __attribute__((noreturn));
static void child_fail(int fd, int stage, int e)
{
	struct child_report rep = {stage, e};
	ssize_t k;
	do {
		k = write(fd, &rep, sizeof(rep));
	} while (k < 0 && errno == EINTR);
	_exit(127);
}

/* In the forked child: async-signal-safe calls only. */
static void child_exec(const struct plan *p) __attribute__((noreturn));
static void child_exec(const struct plan *p)
{
	setpgid(0, 0);
	/* Every descriptor >= 3 is close-on-exec already or now (those another
	 * thread opened without O_CLOEXEC included); the socket is kept. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (int f = 3; f < p->max_fd; f++) {
			int fl = fcntl(f, F_GETFD);
			if (fl >= 0 && !(fl & FD_CLOEXEC))
				fcntl(f, F_SETFD, fl | FD_CLOEXEC);
		}
	}
	/* All three are >= 3 (engine_start moves them there), so these dup2
	 * calls cannot clobber each other's source. */
	if (dup2(p->null_in, 0) < 0 || dup2(p->null_out, 1) < 0)
		child_fail(p->report_fd, STAGE_FD, errno);
	if (fcntl(p->sock, F_SETFD, 0) < 0)
		child_fail(p->report_fd, STAGE_FD, errno);
	if (chdir(p->cwd) != 0)
		child_fail(p->report_fd, STAGE_CWD, errno);
	if (setrlimit(RLIMIT_STACK, &p->stack) != 0)
		child_fail(p->report_fd, STAGE_RLIMIT, errno);
	if (p->set_as && setrlimit(RLIMIT_AS, &p->as) != 0)
		child_fail(p->report_fd, STAGE_RLIMIT, errno);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &p->dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->path, p->argv, p->envp);
	child_fail(p->report_fd, STAGE_EXEC, errno);
}

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* The child's environment: the inherited one with ours on top. The strings
 * of environ are not copied; extra[] must outlive the exec. */
static char **build_envp(char *const *extra, size_t nextra)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **envp = calloc(n + nextra + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	size_t k = 0;
	for (char **e = environ; e && *e; e++) {
		size_t len = env_name_len(*e);
		bool replaced = false;
		for (size_t i = 0; i < nextra && !replaced; i++)
			replaced = env_name_len(extra[i]) == len && !strncmp(extra[i], *e, len);
		if (!replaced)
			envp[k++] = *e;
	}
	for (size_t i = 0; i < nextra; i++)
		envp[k++] = extra[i];
	envp[k] = NULL;
	return envp;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* A descriptor >= 3, close-on-exec (replaces fd). */
static int above_stdio(int *fd)
{
	if (*fd >= 3)
		return 0;
	int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

static bool exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != EINTR;
	return si.si_pid == pid;
}

/* Wait (ticking) at most `bound` seconds for pid to exit, without reaping. */
static bool wait_exit(pid_t pid, double bound)
{
	double end = qf_clock_mono() + bound;
	for (;;) {
		if (exited(pid))
			return true;
		if (qf_clock_mono() >= end)
			return false;
		poll(NULL, 0, EXIT_TICK_MS);
	}
}

/* Kill the child's group (it is unreaped, so the group id is still its
 * own), reap it; *status gets its wait status (0 when it could not be
 * reaped). */
static void kill_and_reap(pid_t pid, int *status)
{
	int st = 0;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	pid_t got;
	do {
		got = waitpid(pid, &st, 0);
	} while (got < 0 && errno == EINTR);
	if (got != pid) {
		qf_log_warn("engine", "could not reap xtb engine child %ld: %s; is SIGCHLD ignored?",
		            (long)pid, strerror(errno));
		st = 0;
	}
	if (status)
		*status = st;
}

/* Make a fresh scratch directory for a child. */
static int make_scratch(qf_engine *e, qf_err *err)
{
	const char *tmp = getenv("TMPDIR");
	if (qf_snprintf(e->scratch, sizeof(e->scratch), "%s/qforge-engine.XXXXXX",
	                tmp && *tmp ? tmp : "/tmp") ||
	    !mkdtemp(e->scratch)) {
		int saved = errno;
		e->scratch[0] = '\0';
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
		                  "could not create a scratch directory for the xtb engine under %s: %s; "
		                  "check TMPDIR",
		                  tmp && *tmp ? tmp : "/tmp", strerror(saved));
	}
	return 0;
}

static void remove_scratch(qf_engine *e)
{
	if (e->scratch[0]) {
		qf_fs_rm_rf(e->scratch);
		e->scratch[0] = '\0';
	}
}

/* End the current child (if any) at once: SIGKILL to the group, reap. */
static void discard_child(qf_engine *e)
{
	close_fd(&e->sock);
	if (e->pid > 0)
		kill_and_reap(e->pid, NULL);
	e->pid = -1;
	remove_scratch(e);
}

static const char *stage_text(int stage)
{
	switch (stage) {
	case STAGE_CWD: return "could not enter its scratch directory";
	case STAGE_RLIMIT: return "could not set its resource limits";
	case STAGE_EXEC: return "could not execute the program";
	default: return "could not set up its descriptors";
	}
}

static void describe_status(int status, char *out, size_t size)
{
	if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status)); /* thread-safe, unlike strsignal */
		snprintf(out, size, "killed by signal %d (SIG%s)", WTERMSIG(status), name ? name : "?");
	} else if (WIFEXITED(status)) {
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	} else {
		snprintf(out, size, "status %d", status);
	}
}

/* Start a child and wait for its hello. */
static int spawn(qf_engine *e, qf_err *err)
{
	int rc = 0;
	int sv[2] = {-1, -1}, report[2] = {-1, -1};
	int null_in = -1, null_out = -1;
	char **envp = NULL;
	unsigned char *msg = NULL;

	rc = make_scratch(e, err);
	if (rc)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(report, O_CLOEXEC) != 0 ||
	    (null_in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (null_out = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 || above_stdio(&sv[1]) ||
	    above_stdio(&null_in) || above_stdio(&null_out) || above_stdio(&report[1])) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
		                "could not create the descriptors for an xtb engine: %s", strerror(errno));
		goto out;
	}

	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	char *argv[] = {"qforge", "engine", "--fd", fdarg, NULL};

	/* One thread, the stack xtb needs, unbuffered Fortran output (the SCC
	 * printout is read back after each calculation). XTBPATH is the
	 * child's to set, for GFN0 only (include/qf/limits.h). */
	char *extra[8];
	size_t nextra = 0;
	extra[nextra++] = "OMP_NUM_THREADS=1";
	extra[nextra++] = "OPENBLAS_NUM_THREADS=1";
	extra[nextra++] = "MKL_NUM_THREADS=1";
	extra[nextra++] = "OMP_STACKSIZE=1G";
	extra[nextra++] = "OMP_MAX_ACTIVE_LEVELS=1";
	extra[nextra++] = "GFORTRAN_UNBUFFERED_ALL=y";
#ifdef QF_ENGINE_ASAN
	/* Sanitiser builds: a signal must end the child as it would in a normal
	 * build (not become an ASan report and exit status 1), and libxtb's own
	 * allocations are not ours to report as leaks. */
	char asan[512];
	const char *prev = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%shandle_segv=0:handle_sigbus=0:handle_abort=0:"
	         "handle_sigfpe=0:handle_sigill=0:detect_leaks=0", prev && *prev ? prev : "",
	         prev && *prev ? ":" : "");
	extra[nextra++] = asan;
#endif
	envp = build_envp(extra, nextra);
	if (!envp) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "engine.start",
		                  "out of memory building the environment of an xtb engine");
		goto out;
	}

	struct plan plan;
	memset(&plan, 0, sizeof(plan));
	plan.path = e->program;
	plan.argv = argv;
	plan.envp = envp;
	plan.cwd = e->scratch;
	plan.sock = sv[1];
	plan.null_in = null_in;
	plan.null_out = null_out;
	plan.report_fd = report[1];
	struct rlimit cur;
	plan.stack.rlim_cur = plan.stack.rlim_max = RLIM_INFINITY;
	if (getrlimit(RLIMIT_STACK, &cur) == 0)
		plan.stack.rlim_cur = plan.stack.rlim_max = cur.rlim_max; /* as high as allowed */
#ifndef QF_ENGINE_ASAN
	/* The CLI executor's address-space limit for one thread. Not in
	 * sanitiser builds: ASan reserves terabytes of shadow memory. */
	if (getrlimit(RLIMIT_AS, &cur) == 0) {
		rlim_t want = (rlim_t)(QF_XTB_MEMORY_MB + XTB_OMP_STACK_MB) * 1024 * 1024;
		if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < want)
			want = cur.rlim_max;
		plan.set_as = true;
		plan.as.rlim_cur = plan.as.rlim_max = want;
	}
#endif
	plan.max_fd = FALLBACK_MAX_FD;
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY &&
	    cur.rlim_cur < (rlim_t)FALLBACK_MAX_FD)
		plan.max_fd = (int)cur.rlim_cur;
	plan.dfl.sa_handler = SIG_DFL;
	sigemptyset(&plan.dfl.sa_mask);

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(&plan);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
		                "could not start an xtb engine: fork failed: %s", strerror(fork_errno));
		goto out;
	}
	setpgid(pid, pid);
	close_fd(&sv[1]);
	close_fd(&report[1]);
	close_fd(&null_in);
	close_fd(&null_out);

	struct child_report rep;
	ssize_t k;
	do {
		k = read(report[0], &rep, sizeof(rep));
	} while (k < 0 && errno == EINTR);
	if (k > 0) {
		if (k != (ssize_t)sizeof(rep))
			rep = (struct child_report){STAGE_FD, EIO};
		kill_and_reap(pid, NULL);
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.start", "xtb engine %s: %s: %s",
		                e->program, stage_text(rep.stage), strerror(rep.err));
		goto out;
	}

	/* The program runs: it must say hello in time. */
	uint32_t type = 0;
	size_t len = 0;
	qf_err merr;
	qf_err_init(&merr);
	int io = read_message(sv[0], qf_clock_mono() + QF_ENGINE_START_TIMEOUT_S, &msg, &len, &type,
	                      &merr);
	qf__engine_hello hello;
	if (io == IO_OK && type == QF__ENGINE_HELLO && qf__engine_decode_hello(msg, len, &hello, &merr) == 0 &&
	    hello.pid == pid) {
		e->pid = pid;
		e->sock = sv[0];
		sv[0] = -1;
		e->ran_gfn0 = false;
		qf_strlcpy(e->xtb_version, hello.xtb_version, sizeof(e->xtb_version));
		qf_log_debug("engine", "xtb engine %ld started (libxtb %s, API %d) in %s", (long)pid,
		             hello.xtb_version[0] ? hello.xtb_version : "?", hello.api_version, e->scratch);
		goto out;
	}
	int status = 0;
	bool gone = exited(pid);
	kill_and_reap(pid, &status);
	char how[128];
	if (gone)
		describe_status(status, how, sizeof(how));
	else
		qf_strlcpy(how, io == IO_TIMEOUT ? "no answer in time" : "it was stopped", sizeof(how));
	rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
	                "%s did not start an xtb engine (%s%s%s): check that it is the qforge program "
	                "and that libxtb loads",
	                e->program, io == IO_EOF ? "it closed the connection; " : "",
	                io == -1 || (io == IO_OK && type != QF__ENGINE_HELLO) ? "bad hello; " : "", how);
	if (qf_err_is_set(&merr))
		qf_err_detail(err, merr.message, strlen(merr.message));

out:
	free(msg);
	free(envp);
	close_fd(&sv[0]);
	close_fd(&sv[1]);
	close_fd(&report[0]);
	close_fd(&report[1]);
	close_fd(&null_in);
	close_fd(&null_out);
	if (rc)
		remove_scratch(e);
	return rc;
}

/* ======================================================================
 * Public API
 * ====================================================================== */

int qf_engine_start(qf_engine **out, const char *qforge_path, qf_err *err)
{
	*out = NULL;
	qf_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory starting an xtb engine");
	e->pid = -1;
	e->sock = -1;
	const char *program = qforge_path && *qforge_path ? qforge_path : "/proc/self/exe";
	if (qf_strlcpy(e->program, program, sizeof(e->program)) >= sizeof(e->program)) {
		free(e);
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start", "qforge path too long: %s", program);
	}
	if (access(e->program, X_OK) != 0) {
		int saved = errno;
		free(e);
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
		                  "cannot run %s for the xtb engine: %s; give the path of qforge", program,
		                  strerror(saved));
	}
	int rc = spawn(e, err);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* End the child the polite way: close its connection (it reads end of file
 * and exits), wait a little, then kill the group and reap. */
static void end_child(qf_engine *e)
{
	close_fd(&e->sock);
	if (e->pid > 0) {
		if (!wait_exit(e->pid, QF_KILL_GRACE_S))
			qf_log_warn("engine", "xtb engine %ld did not exit when its connection closed; killing it",
			            (long)e->pid);
		kill_and_reap(e->pid, NULL);
	}
	e->pid = -1;
	remove_scratch(e);
}

void qf_engine_free(qf_engine *e)
{
	if (!e)
		return;
	end_child(e);
	free(e);
}

pid_t qf_engine_pid(const qf_engine *e)
{
	return e ? e->pid : -1;
}

bool qf_engine_supports(const qf_spec *spec)
{
	if (!spec || spec->task != QF_TASK_SP)
		return false;
	if (spec->method != QF_METHOD_GFN2 && spec->method != QF_METHOD_GFN1 &&
	    spec->method != QF_METHOD_GFN0)
		return false;
	return spec->solvation == QF_SOLV_NONE || spec->solvation == QF_SOLV_GBSA;
}

/* Replace a child that failed: the error of the failure stays in err; a
 * failed restart is only logged (the next run tries again). */
static void replace(qf_engine *e)
{
	discard_child(e);
	qf_err serr;
	qf_err_init(&serr);
	if (spawn(e, &serr))
		qf_log_warn("engine", "could not replace the xtb engine: %s", serr.message);
}

/* The child is gone or going (end of file, a broken answer): classify its end. */
static int child_died(qf_engine *e, qf_metrics *m, qf_err *err)
{
	pid_t pid = e->pid;
	/* End of file comes a moment before the exit: give it a little time,
	 * then kill (a child that closed the socket but lives on is broken). */
	bool gone = wait_exit(pid, QF_KILL_GRACE_S);
	int status = 0;
	kill_and_reap(pid, &status);
	e->pid = -1;
	close_fd(&e->sock);
	char how[128];
	int rc;
	if (gone && WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		m->term_signal = sig;
		m->exit_code = -1;
		describe_status(status, how, sizeof(how));
		if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT)
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.killed",
			                "the xtb engine was %s before the calculation finished (by someone "
			                "else, or for memory); it has been restarted: retry the job",
			                how);
		else
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
			                "xtb crashed (%s) during the calculation; the engine has been restarted: "
			                "retry, or run this molecule with the xtb program",
			                how);
	} else {
		if (gone && WIFEXITED(status))
			m->exit_code = WEXITSTATUS(status);
		else
			m->term_signal = SIGKILL;
		describe_status(status, how, sizeof(how));
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
		                "the xtb engine ended during the calculation (%s); it has been restarted: "
		                "retry, or run this molecule with the xtb program",
		                gone ? how : "it closed its connection");
	}
	qf_log_warn("engine", "xtb engine %ld: %s", (long)pid, err->message);
	replace(e);
	return rc;
}

/* Fill r and m from a successful answer, as the CLI executor would. */
static int fill_result(qf__engine_reply *rp, const qf_mol *mol, int uhf, qf_result *r,
                       qf_err *err)
{
	size_t n = (size_t)mol->natoms;
	qf_result res;
	qf_result_init(&res);
	res.natoms = mol->natoms;
	res.z = malloc(n * sizeof(*res.z));
	res.geometry = malloc(3 * n * sizeof(*res.geometry));
	if (!res.z || !res.geometry) {
		qf_result_release(&res);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory storing the results of the xtb engine");
	}
	memcpy(res.z, mol->z, n * sizeof(*res.z));
	memcpy(res.geometry, mol->xyz, 3 * n * sizeof(*res.geometry));
	res.has_energy = true;
	res.total_energy = rp->energy;
	res.has_dipole = true;
	double d2 = 0;
	for (int k = 0; k < 3; k++) {
		res.dipole[k] = rp->dipole[k] * XTB_AU_TO_DEBYE;
		d2 += res.dipole[k] * res.dipole[k];
	}
	res.dipole_debye = sqrt(d2);
	/* Ownership of the arrays moves from the reply to the result. */
	res.gradient = rp->gradient;
	rp->gradient = NULL;
	res.charges = rp->charges;
	rp->charges = NULL;
	res.nbonds = rp->nbonds;
	res.bonds = rp->bonds;
	rp->bonds = NULL;
	if (!res.bonds) /* none above 0.1 is still a result: an empty list */
		res.bonds = calloc(1, sizeof(*res.bonds));
	double g2 = 0;
	for (size_t i = 0; i < 3 * n; i++)
		g2 += res.gradient[i] * res.gradient[i];
	res.has_gradient_norm = true;
	res.gradient_norm = sqrt(g2);

	res.norbitals = rp->norbitals;
	if (rp->norbitals > 0) {
		res.orbital_energies_ev = rp->orbital_energies;
		rp->orbital_energies = NULL;
		res.occupations = rp->occupations;
		rp->occupations = NULL;
		double nel = 0;
		for (int k = 0; k < res.norbitals; k++) {
			nel += res.occupations[k];
			res.orbital_energies_ev[k] *= XTB_AUTOEV;
		}
		/* homo_index as the CLI executor's parser defines it; the gap as xtb
		 * prints it: from the highest alpha orbital of the aufbau filling
		 * (the singly occupied one of a radical), whatever the Fermi
		 * smearing makes of the occupations. The two agree except for
		 * smeared near-degenerate frontier orbitals. */
		res.homo_index = qf_xtb_homo_index(res.occupations, res.norbitals);
		long electrons = lround(nel);
		long homo = (electrons + uhf) / 2 - 1;
		if (homo >= 0 && homo + 1 < res.norbitals) {
			res.has_gap = true;
			res.gap_ev = res.orbital_energies_ev[homo + 1] - res.orbital_energies_ev[homo];
		}
	}
	if (!res.bonds) {
		qf_result_release(&res);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory storing the results of the xtb engine");
	}
	qf_result_release(r);
	*r = res;
	return 0;
}

int qf_engine_run(qf_engine *e, const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
                  qf_result *r, qf_metrics *m, qf_err *err)
{
	qf_err local_err;
	if (!err) {
		qf_err_init(&local_err);
		err = &local_err;
	}
	qf_metrics_init(m);
	if (!e || !mol || !spec || !r)
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.usage",
		                  "qf_engine_run needs an engine, a molecule, a spec and a result: fix the "
		                  "caller");
	if (!qf_engine_supports(spec))
		return qf_err_set(err, QF_CAT_VALIDATION, "engine.unsupported",
		                  "the xtb engine runs singlepoints with GFN2, GFN1 or GFN0 in vacuum or "
		                  "GBSA only, not task %s with %s%s%s: run it with the xtb program",
		                  qf_task_name(spec->task), qf_method_label(spec->method),
		                  spec->solvation != QF_SOLV_NONE ? " and " : "",
		                  spec->solvation != QF_SOLV_NONE ? qf_solvation_name(spec->solvation) : "");
	int rc = qf_spec_validate(spec, err);
	if (rc)
		return rc;
	rc = qf_mol_validate(mol, qf_method_max_z(spec->method), charge, uhf, err);
	if (rc)
		return rc;

	qf_strlcpy(m->method, qf_method_label(spec->method), sizeof(m->method));
	if (spec->solvation != QF_SOLV_NONE)
		snprintf(m->solvation, sizeof(m->solvation), "%s/%s", qf_solvation_name(spec->solvation),
		         spec->solvent);
	/* libxtb 6.5.1 keeps state from GFN0 that makes every later GFN2
	 * energy of the process wrong (caffeine: -42.147902540802 Eh instead
	 * of -42.147425860085); GFN1 was not affected in our tests, but a child
	 * that has run GFN0 runs nothing else: a fresh one takes over. */
	if (e->pid > 0 && e->ran_gfn0 && spec->method != QF_METHOD_GFN0) {
		qf_log_debug("engine", "xtb engine %ld has run GFN0: starting a fresh one for %s",
		             (long)e->pid, qf_method_label(spec->method));
		end_child(e);
	}
	if (e->pid <= 0) {
		/* An earlier replacement failed, or the child was retired: start one. */
		discard_child(e);
		rc = spawn(e, err);
		if (rc)
			return rc;
	}
	if (spec->method == QF_METHOD_GFN0)
		e->ran_gfn0 = true;
	qf_strlcpy(m->xtb_version, e->xtb_version, sizeof(m->xtb_version));

	qf__engine_request rq;
	memset(&rq, 0, sizeof(rq));
	rq.method = (int32_t)spec->method;
	rq.charge = charge;
	rq.uhf = uhf;
	rq.max_iterations = spec->max_scc_iterations;
	rq.etemp = spec->etemp;
	rq.accuracy = spec->accuracy;
	if (spec->solvation == QF_SOLV_GBSA)
		qf_strlcpy(rq.solvent, spec->solvent, sizeof(rq.solvent));
	rq.natoms = mol->natoms;
	rq.z = mol->z;
	rq.xyz = mol->xyz;

	qf_buf out;
	qf_buf_init(&out, (size_t)QF_ENGINE_MAX_MESSAGE);
	uint32_t seq = ++e->seq;
	rc = qf__engine_encode_request(&out, seq, &rq, err);
	if (rc) {
		qf_buf_release(&out);
		return rc;
	}

	double timeout = spec->timeout > 0 ? spec->timeout : QF_DEFAULT_TIMEOUT_S;
	double t0 = qf_clock_mono();
	double deadline = t0 + timeout;
	unsigned char *msg = NULL;
	size_t len = 0;
	uint32_t type = 0;
	int io = write_full(e->sock, out.data, out.len, deadline);
	qf_buf_release(&out);
	qf_err merr;
	qf_err_init(&merr);
	if (io == IO_OK)
		io = read_message(e->sock, deadline, &msg, &len, &type, &merr);
	m->wall_time = qf_clock_mono() - t0;

	if (io == IO_TIMEOUT) {
		pid_t pid = e->pid;
		m->timed_out = true;
		m->exit_code = -1;
		m->term_signal = SIGKILL;
		rc = qf_err_set(err, QF_CAT_TIMEOUT, "xtb.timeout",
		                "the calculation did not finish within %g s: raise the timeout, or check "
		                "the molecule (a very large one, or an SCC that does not converge)",
		                timeout);
		qf_log_info("engine", "xtb engine %ld: timeout after %g s; restarting it", (long)pid, timeout);
		replace(e);
		return rc;
	}
	if (io == IO_EOF)
		return child_died(e, m, err);
	if (io == IO_ERROR) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.io",
		                "could not talk to the xtb engine: %s; it has been restarted",
		                strerror(errno));
		replace(e);
		return rc;
	}
	qf__engine_reply rp;
	qf__engine_reply_init(&rp);
	if (io == IO_OK && type != QF__ENGINE_REPLY)
		qf_err_set(&merr, QF_CAT_SYSTEM, "engine.protocol",
		           "malformed xtb engine message: not an answer");
	else if (io == IO_OK)
		qf__engine_decode_reply(msg, len, seq, mol->natoms, &rp, &merr);
	free(msg);
	if (qf_err_is_set(&merr)) {
		*err = merr;
		qf_err_prefix(err, "the xtb engine has been restarted");
		qf_log_warn("engine", "xtb engine %ld: %s", (long)e->pid, err->message);
		replace(e);
		return err->rc;
	}

	/* The child's own view of the calculation. */
	m->wall_time = rp.wall_time;
	m->cpu_time = rp.cpu_time;
	m->memory_peak_mb = rp.maxrss_mb;
	m->scf_cycles = spec->method == QF_METHOD_GFN0 ? -1 : rp.scf_cycles;
	m->exit_code = 0;
	switch (rp.status) {
	case QF__ENGINE_OK:
		rc = fill_result(&rp, mol, uhf, r, err);
		if (rc == 0) {
			m->is_converged = true;
			m->has_gradient_norm = true;
			m->gradient_norm = r->gradient_norm;
		}
		break;
	case QF__ENGINE_SCC_FAILED:
		if (m->scf_cycles < 0)
			m->scf_cycles = spec->max_scc_iterations;
		rc = qf_err_set(err, QF_CAT_CONVERGENCE, "xtb.scc_not_converged",
		                "the SCC did not converge in %d iterations: raise max-scc-iterations or the "
		                "electronic temperature, or check the geometry",
		                spec->max_scc_iterations);
		qf_err_detail(err, rp.message, strlen(rp.message));
		break;
	case QF__ENGINE_XTB_ERROR:
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.failed", "xtb failed: %s", rp.message);
		qf_err_detail(err, rp.message, strlen(rp.message));
		break;
	default: /* QF__ENGINE_BAD_REQUEST: the child exits after saying so */
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol",
		                "the xtb engine could not read the request: %s; it has been restarted",
		                rp.message);
		replace(e);
		break;
	}
	qf__engine_reply_release(&rp);
	return rc;
}
