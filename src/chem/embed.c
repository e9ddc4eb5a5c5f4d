/* SMILES -> 3D in bounded child processes (include/qf/embed.h).
 *
 * The conversation with a child, over one socket (fd 0 and 1 of the child):
 *   parent: "<conformers> <smiles>\n"
 *   child:  "ok <natoms> <nconf>\n", "emb <qf_mol.embedding JSON>\n", then for
 *           each distinct conformer, lowest force-field energy first,
 *           "c <ff_energy kcal/mol>\n" and natoms lines "<Z> <x> <y> <z>\n";
 *           or "err <oom 0|1> <code> <message>\n"
 * A socket, not two pipes: send(MSG_NOSIGNAL) to a child that died is an
 * error to handle, not a SIGPIPE to the whole program. */
#include "qf/embed.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/molio.h"
#include "qf/str.h"

extern char **environ;

/* Bytes of one answer line: "<Z> <x> <y> <z>" with %.17g is < 80; the error
 * line holds a message of qf_err's size. */
#define LINE_MAX_BYTES 1024

struct child {
	pid_t pid;       /* 0: none */
	int fd;          /* -1: none */
	size_t item;     /* the molecule it holds */
	bool busy;
	double deadline; /* qf_clock_mono seconds */
	char *buf;       /* the answer so far */
	size_t len, cap;
};

static double now_s(void)
{
	return qf_clock_mono();
}

static int spawn(struct child *c, const char *program, long memory_mb, qf_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.embedding",
		                  "cannot start an embedding process: socketpair: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* dup2 clears close-on-exec on the copies: the child keeps 0 and 1 only. */
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	char mem[32];
	snprintf(mem, sizeof(mem), "%ld", memory_mb);
	char *argv[] = {(char *)"qforge", (char *)"embed", (char *)"--serve", (char *)"--memory", mem,
	                NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, program, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.embedding",
		                  "cannot start an embedding process (%s): %s", program, strerror(rc));
	}
	c->pid = pid;
	c->fd = sv[0];
	c->busy = false;
	c->len = 0;
	return 0;
}

/* Ends a child: SIGKILL when it must stop now, else closing its input is
 * enough (it exits at end of input). */
static void reap(struct child *c, bool kill_it, int *status)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->pid > 0) {
		if (kill_it)
			kill(c->pid, SIGKILL);
		int st = 0;
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
		if (status)
			*status = st;
	}
	c->pid = 0;
	c->busy = false;
	c->len = 0;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* A short form of the SMILES for messages. */
static void shown(const char *smiles, char *out, size_t size)
{
	size_t n = strlen(smiles);
	if (n < 61)
		snprintf(out, size, "%s", smiles);
	else
		snprintf(out, size, "%.50s... (%zu characters)", smiles, n);
}

/* "ok <natoms> <nconf>" (len bytes at line) -> the counts; -1 malformed. */
static int answer_head(const char *line, size_t len, long *natoms, long *nconf)
{
	char head[48];
	if (len < 3 || len >= sizeof(head) || memcmp(line, "ok ", 3))
		return -1;
	memcpy(head, line + 3, len - 3);
	head[len - 3] = '\0';
	char *sp = strchr(head, ' ');
	if (!sp)
		return -1;
	*sp++ = '\0';
	return qf_parse_int(head, 0, QF_MAX_ATOMS, natoms) && qf_parse_int(sp, 1, QF_MAX_CONFORMERS, nconf)
	               ? 0
	               : -1;
}

/* Is the answer in c->buf complete? 1 yes, 0 not yet, -1 malformed. */
static int answer_complete(const struct child *c)
{
	const char *nl = memchr(c->buf, '\n', c->len);
	if (!nl)
		return c->len > LINE_MAX_BYTES ? -1 : 0;
	if (c->len >= 4 && !memcmp(c->buf, "err ", 4))
		return 1;
	long natoms, nconf;
	if (answer_head(c->buf, (size_t)(nl - c->buf), &natoms, &nconf))
		return -1;
	long lines = 0;
	for (const char *p = nl + 1; p < c->buf + c->len; p++)
		if (*p == '\n')
			lines++;
	return lines >= 1 + nconf * (natoms + 1) ? 1 : 0;
}

/* natoms lines "<Z> <x> <y> <z>" of strtok_r's save -> xyz (3 * natoms),
 * each Z as m's; false when a line is not. */
static bool take_atoms(char **save, const qf_mol *m, double *xyz)
{
	for (int i = 0; i < m->natoms; i++) {
		char *l = strtok_r(NULL, "\n", save);
		char *end = NULL;
		long z = l ? strtol(l, &end, 10) : -1;
		double x = end ? strtod(end, &end) : NAN;
		double y = end ? strtod(end, &end) : NAN;
		double zz = end ? strtod(end, &end) : NAN;
		if (z != m->z[i] || !isfinite(x) || !isfinite(y) || !isfinite(zz))
			return false;
		xyz[3 * i] = x;
		xyz[3 * i + 1] = y;
		xyz[3 * i + 2] = zz;
	}
	return true;
}

/* The complete answer in c->buf -> m (the lowest conformer's coordinates)
 * and conf (every conformer; may be NULL), or e. */
static void take_answer(const struct child *c, const char *smiles, qf_mol *m, qf_conformers *conf,
                        qf_err *e, bool *failed)
{
	char *text = strndup(c->buf, c->len);
	char sm[96];
	shown(smiles, sm, sizeof(sm));
	*failed = true;
	if (!text) {
		qf_err_setrc(e, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		return;
	}
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	if (!strncmp(line, "err ", 4)) {
		/* err <oom> <code> <message> */
		char *p = line + 4;
		char *code = strchr(p, ' ');
		char *msg = code ? strchr(code + 1, ' ') : NULL;
		if (code && msg) {
			*code++ = '\0';
			*msg++ = '\0';
			if (!strcmp(p, "1"))
				qf_err_set(e, QF_CAT_VALIDATION, "input.embedding",
				           "embedding SMILES '%s' needed more memory than the limit of %s",
				           sm, msg);
			else
				qf_err_set(e, QF_CAT_VALIDATION, code, "%s", msg);
		} else {
			qf_err_set(e, QF_CAT_SYSTEM, "system.embedding",
			           "the embedding process gave a malformed answer for '%s'", sm);
		}
		free(text);
		return;
	}
	long natoms = 0, nconf = 0;
	char *emb = NULL;
	if (answer_head(line, strlen(line), &natoms, &nconf) || natoms != m->natoms) {
		qf_err_set(e, QF_CAT_SYSTEM, "system.embedding",
		           "embedding '%s' gave %ld atoms where its SMILES has %d", sm, natoms, m->natoms);
		goto out;
	}
	emb = strtok_r(NULL, "\n", &save);
	if (!emb || strncmp(emb, "emb ", 4)) {
		qf_err_set(e, QF_CAT_SYSTEM, "system.embedding",
		           "the embedding process gave a malformed answer for '%s'", sm);
		goto out;
	}
	size_t per = 3 * (size_t)natoms;
	qf_conformers all = {0};
	all.xyz = malloc(((size_t)nconf * per + 1) * sizeof(double));
	all.ff_energy = malloc((size_t)nconf * sizeof(double));
	if (!all.xyz || !all.ff_energy) {
		qf_conformers_release(&all);
		qf_err_setrc(e, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out;
	}
	for (long k = 0; k < nconf; k++) {
		char *head = strtok_r(NULL, "\n", &save);
		double ff = head && !strncmp(head, "c ", 2) ? strtod(head + 2, NULL) : NAN;
		if (!isfinite(ff) || !take_atoms(&save, m, all.xyz + (size_t)k * per)) {
			qf_conformers_release(&all);
			qf_err_set(e, QF_CAT_SYSTEM, "system.embedding",
			           "embedding '%s' gave conformer %ld unlike its SMILES's atoms", sm, k + 1);
			goto out;
		}
		all.ff_energy[k] = ff;
		all.n++;
	}
	free(m->embedding);
	m->embedding = strcmp(emb + 4, "{}") ? strdup(emb + 4) : NULL;
	memcpy(m->xyz, all.xyz, per * sizeof(double));
	if (conf)
		*conf = all;
	else
		qf_conformers_release(&all);
	*failed = false;
out:
	free(text);
}

/* A child ended (or was killed) while holding a molecule. */
static void died(int status, bool timed_out, const qf_embed_limits *l, const char *smiles,
                 qf_err *e)
{
	char sm[96];
	shown(smiles, sm, sizeof(sm));
	if (timed_out)
		qf_err_set(e, QF_CAT_VALIDATION, "input.embedding",
		           "embedding SMILES '%s' did not finish within the time limit of %g s "
		           "(--embed-timeout)",
		           sm, l->seconds);
	else if (WIFSIGNALED(status))
		qf_err_set(e, QF_CAT_VALIDATION, "input.embedding",
		           "the embedding process for SMILES '%s' ended with signal %d (memory limit "
		           "%ld MB, --embed-memory)",
		           sm, WTERMSIG(status), l->memory_mb);
	else
		qf_err_set(e, QF_CAT_VALIDATION, "input.embedding",
		           "the embedding process for SMILES '%s' ended with status %d before answering "
		           "(memory limit %ld MB, --embed-memory)",
		           sm, WIFEXITED(status) ? WEXITSTATUS(status) : -1, l->memory_mb);
}

static int read_more(struct child *c)
{
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		char *p = realloc(c->buf, cap);
		if (!p)
			return -1;
		c->buf = p;
		c->cap = cap;
	}
	ssize_t r;
	do
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

/* The qforge beside the running program (qforge itself, or a test program
 * in the build directory), else the one of the build (QF_QFORGE_PROGRAM). */
static const char *default_program(char *buf, size_t size)
{
	char exe[PATH_MAX];
	if (qf_fs_self_path(exe, sizeof(exe)) == 0) {
		char *slash = strrchr(exe, '/');
		if (slash && !strcmp(slash + 1, "qforge"))
			return "/proc/self/exe";
		if (slash) {
			snprintf(buf, size, "%.*s/qforge", (int)(slash - exe), exe);
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
#ifdef QF_QFORGE_PROGRAM
	return QF_QFORGE_PROGRAM;
#else
	return "/proc/self/exe";
#endif
}

int qf_embed_many(const qf_embed_limits *lim, const char *const *smiles, qf_mol *const *mols,
                  qf_conformers *confs, qf_err *errs, bool *failed, size_t n,
                  qf_embed_progress_fn progress, void *ctx, qf_err *err)
{
	if (n == 0)
		return 0;
	qf_embed_limits l = lim ? *lim : (qf_embed_limits){0};
	if (l.seconds <= 0)
		l.seconds = QF_EMBED_SECONDS;
	if (l.memory_mb <= 0)
		l.memory_mb = QF_EMBED_MEMORY_MB;
	if (l.processes <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		l.processes = cores > 0 ? (int)cores : 1;
	}
	if ((size_t)l.processes > n)
		l.processes = (int)n;
	if (l.processes > QF_EMBED_MAX_PROCESSES)
		l.processes = QF_EMBED_MAX_PROCESSES;
	char program[PATH_MAX];
	if (!l.program)
		l.program = default_program(program, sizeof(program));

	struct child *kids = calloc((size_t)l.processes, sizeof(*kids));
	if (!kids)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	for (int k = 0; k < l.processes; k++)
		kids[k].fd = -1;
	for (size_t i = 0; i < n; i++) {
		failed[i] = true;
		qf_err_init(&errs[i]);
		if (confs)
			memset(&confs[i], 0, sizeof(confs[i]));
	}
	size_t next = 0, done = 0;
	int rc = 0;
	qf_err spawn_err;
	qf_err_init(&spawn_err);
	while (done < n) {
		/* Give each idle child the next molecule. */
		int alive = 0;
		for (int k = 0; k < l.processes && next < n; k++) {
			struct child *c = &kids[k];
			if (c->busy)
				continue;
			if (c->pid == 0 && spawn(c, l.program, l.memory_mb, &spawn_err))
				continue;
			char *line = NULL;
			size_t len = strlen(smiles[next]);
			if (!(line = malloc(len + 16))) {
				rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
				goto out;
			}
			int hl = snprintf(line, 16, "%d ", l.conformers > 0 ? l.conformers : 1);
			memcpy(line + hl, smiles[next], len);
			line[hl + (int)len] = '\n';
			bool sent = send_all(c->fd, line, (size_t)hl + len + 1);
			free(line);
			if (!sent) {
				reap(c, true, NULL);
				continue; /* respawned on the next round */
			}
			c->busy = true;
			c->item = next++;
			c->deadline = now_s() + l.seconds;
			c->len = 0;
		}
		struct pollfd pfd[QF_EMBED_MAX_PROCESSES];
		int who[QF_EMBED_MAX_PROCESSES];
		int np = 0;
		double first = INFINITY;
		for (int k = 0; k < l.processes; k++)
			if (kids[k].busy) {
				pfd[np] = (struct pollfd){.fd = kids[k].fd, .events = POLLIN};
				who[np++] = k;
				if (kids[k].deadline < first)
					first = kids[k].deadline;
				alive++;
			}
		if (alive == 0) {
			/* Nothing in flight and nothing could be started. */
			rc = qf_err_set(err, spawn_err.category ? spawn_err.category : QF_CAT_SYSTEM,
			                spawn_err.code[0] ? spawn_err.code : "system.embedding", "%s",
			                spawn_err.message[0] ? spawn_err.message
			                                     : "cannot start an embedding process");
			goto out;
		}
		double wait = first - now_s();
		int ms = wait <= 0 ? 0 : wait > 60 ? 60000 : (int)ceil(wait * 1000);
		int pr = poll(pfd, (nfds_t)np, ms);
		if (pr < 0 && errno != EINTR) {
			rc = qf_err_set(err, QF_CAT_SYSTEM, "system.embedding", "poll: %s", strerror(errno));
			goto out;
		}
		double t = now_s();
		for (int j = 0; j < np; j++) {
			struct child *c = &kids[who[j]];
			size_t i = c->item;
			bool finished = false;
			if (pr > 0 && (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (read_more(c) == 0) {
					int a = answer_complete(c);
					if (a == 1) {
						take_answer(c, smiles[i], mols[i], confs ? &confs[i] : NULL, &errs[i], &failed[i]);
						bool oom = c->len >= 6 && !memcmp(c->buf, "err 1 ", 6);
						c->busy = false;
						c->len = 0;
						if (oom) /* a child that ran out of memory starts afresh */
							reap(c, true, NULL);
						finished = true;
					} else if (a < 0) {
						qf_err_set(&errs[i], QF_CAT_SYSTEM, "system.embedding",
						           "the embedding process gave a malformed answer");
						reap(c, true, NULL);
						finished = true;
					}
				} else {
					int st = 0;
					reap(c, false, &st);
					died(st, false, &l, smiles[i], &errs[i]);
					finished = true;
				}
			}
			if (!finished && c->busy && t >= c->deadline) {
				reap(c, true, NULL);
				died(0, true, &l, smiles[i], &errs[i]);
				finished = true;
			}
			if (finished) {
				done++;
				if (progress)
					progress(ctx, done, n);
			}
		}
	}
out:
	for (int k = 0; k < l.processes; k++) {
		reap(&kids[k], kids[k].busy || rc, NULL);
		free(kids[k].buf);
	}
	free(kids);
	return rc;
}

int qf_embed_one(const qf_embed_limits *l, const char *smiles, const char *name, qf_mol *m,
                 qf_err *err)
{
	qf_mol_init(m);
	int rc = qf_smiles_check(smiles, name, m, err);
	if (rc)
		return rc;
	bool failed = true;
	qf_err e;
	qf_err_init(&e);
	qf_embed_limits one = l ? *l : (qf_embed_limits){0};
	one.processes = 1;
	rc = qf_embed_many(&one, &smiles, &m, NULL, &e, &failed, 1, NULL, NULL, err);
	if (!rc && failed) {
		*err = e;
		rc = e.rc ? e.rc : -1;
	}
	if (rc)
		qf_mol_release(m);
	return rc;
}

/* ---- the child ---------------------------------------------------------------- */

/* The message on one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* AddressSanitizer reserves terabytes of address space for its shadow: an
 * address-space limit would stop a sanitizer build's child before main. */
#if defined(__SANITIZE_ADDRESS__)
#define QF_EMBED_AS_LIMIT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QF_EMBED_AS_LIMIT 0
#endif
#endif
#ifndef QF_EMBED_AS_LIMIT
#define QF_EMBED_AS_LIMIT 1
#endif

bool qf_embed_memory_limited(void)
{
	return QF_EMBED_AS_LIMIT;
}

int qf_embed_serve(int in_fd, int out_fd, long memory_mb)
{
	if (QF_EMBED_AS_LIMIT && memory_mb > 0) {
		struct rlimit rl = {.rlim_cur = (rlim_t)memory_mb << 20, .rlim_max = (rlim_t)memory_mb << 20};
		if (setrlimit(RLIMIT_AS, &rl)) {
			perror("qforge embed: setrlimit");
			return 1;
		}
	}
	FILE *in = fdopen(in_fd, "r");
	FILE *out = fdopen(in_fd == out_fd ? dup(out_fd) : out_fd, "w");
	if (!in || !out)
		return 1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char limit[32];
	snprintf(limit, sizeof(limit), "%ld MB", memory_mb);
	while ((len = getline(&line, &cap, in)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		qf_mol m;
		qf_mol_init(&m);
		qf_err e;
		qf_err_init(&e);
		char *sp = strchr(line, ' ');
		long nconf = 1;
		if (sp) {
			*sp = '\0';
			if (!qf_parse_int(line, 1, QF_MAX_CONFORMERS, &nconf))
				nconf = 1;
		}
		const char *smiles = sp ? sp + 1 : line;
		qf_conformers c;
		if (qf_smiles_to_conformers(smiles, NULL, (int)nconf, &m, &c, &e)) {
			bool oom = e.rc == QF_ENOMEM || !strcmp(e.code, "system.memory");
			one_line(e.message);
			fprintf(out, "err %d %s %s\n", oom, e.code[0] ? e.code : "input.embedding",
			        oom ? limit : e.message);
			fflush(out);
			qf_mol_release(&m);
			if (oom)
				break; /* the parent starts a fresh process */
			continue;
		}
		/* m holds conformer 0; c all of them (at least that one). */
		int nc = c.n > 0 ? c.n : 1;
		fprintf(out, "ok %d %d\nemb %s\n", m.natoms, nc, m.embedding ? m.embedding : "{}");
		for (int k = 0; k < nc; k++) {
			const double *xyz = c.n > 0 ? c.xyz + (size_t)k * 3 * (size_t)m.natoms : m.xyz;
			fprintf(out, "c %.17g\n", c.n > 0 ? c.ff_energy[k] : 0.0);
			for (int i = 0; i < m.natoms; i++)
				fprintf(out, "%d %.17g %.17g %.17g\n", m.z[i], xyz[3 * i], xyz[3 * i + 1],
				        xyz[3 * i + 2]);
		}
		qf_conformers_release(&c);
		qf_mol_release(&m);
		if (fflush(out))
			break;
	}
	free(line);
	fclose(out);
	fclose(in);
	return 0;
}
