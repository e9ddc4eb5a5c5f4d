/*
 * The HTTP server (qforge serve): the JSON API under /api/v1/, the built web
 * app, Server-Sent Events, /livez, /readyz and /metrics, in front of the
 * store; and (unless workers is 0) a supervised pool of `qforge worker`
 * processes. The server process itself never runs xtb or libxtb.
 *
 * libmicrohttpd with a thread pool over epoll; every limit from
 * include/qf/limits.h. One error shape for every failure:
 *   {"error": {"code": "...", "category": "...", "message": "..."}}
 * with the status of the error (see src/http/server.c, http_status_of).
 */
#ifndef QF_HTTP_H
#define QF_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/notify.h"

typedef struct qf_server qf_server;

/* Who may register once the first account (the administrator) exists. */
typedef enum qf_registration {
	QF_REG_OPEN = 0, /* anyone */
	QF_REG_CLOSED,   /* nobody: administrators create accounts (qforge user add) */
	QF_REG_INVITE,   /* whoever holds an invitation code */
} qf_registration;

typedef struct qf_server_opts {
	const char *bind;         /* address to listen on (default 127.0.0.1) */
	int port;                 /* default 8080; 0: any free port (see port_file) */
	const char *port_file;    /* write the port we listen on here (may be NULL) */
	const char *store_url;    /* NULL: qf_store_default_url() */
	int threads;              /* request threads (default: the number of cores) */
	int workers;              /* worker processes; -1: the number of cores; 0: none */
	const char *worker_args;  /* extra arguments for each worker, blank-separated (may be NULL) */
	const char *jobs_root;    /* the workers' jobs root (default var/jobs) */
	const char *web_root;     /* the built web app (NULL: <program dir>/../web/dist,
	                             then the source tree's web/dist) */
	const char *secret_key_file; /* the key of the secret box (default var/secret.key,
	                                created when missing) */
	qf_registration registration;
	int rate_user_per_min;    /* 0: QF_RATE_USER_PER_MIN */
	int rate_anon_per_min;    /* 0: QF_RATE_ANON_PER_MIN */
	bool secure_cookies;      /* mark cookies Secure (behind TLS) */
	const char *qforge_path;  /* program the workers run (NULL: this one) */
	double slow_factor;       /* dashboard alert: average job time over the window
	                             above this many times the previous window's (default 1.5) */
	bool quiet;               /* no start-up banner */
	/* notifications (include/qf/notify.h): where webhooks may go (NULL:
	 * https://hooks.slack.com only), the SMTP server (url NULL: no e-mail),
	 * the first retry's wait (0: QF_NOTIFY_BACKOFF_BASE_S) and the tries
	 * (0: QF_NOTIFY_MAX_ATTEMPTS) */
	const qf_notify_policy *notify_policy;
	qf_notify_smtp smtp;
	double notify_backoff_s;
	int notify_max_attempts;
	double retention_interval; /* seconds between runs of the retention (qf_store_purge);
	                              0: QF_RETENTION_INTERVAL_S (an hour); < 0: never */
} qf_server_opts;

void qf_server_opts_init(qf_server_opts *o);

/* Open the store (migrating it), bind the port, start the workers. */
int qf_server_new(qf_server **out, const qf_server_opts *o, qf_err *err);
/* The port the server listens on. */
int qf_server_port(const qf_server *s);
/* Serve until *stop becomes non-zero (a signal handler sets it): then stop
 * accepting, finish the requests under way, drain the workers (a second
 * signal, *stop >= 2, stops their running jobs and gives them back), flush
 * the usage log. Returns 0 or the error that ended it. */
int qf_server_run(qf_server *s, volatile sig_atomic_t *stop, qf_err *err);
void qf_server_free(qf_server *s);

/* ---- introspection (tests, the OpenAPI check) ---------------------------------- */

/* Who may call a route. */
enum {
	QF_HTTP_PUBLIC = 0, /* anyone */
	QF_HTTP_USER,       /* any signed-in user (viewer and up) */
	QF_HTTP_WRITER,     /* researcher or admin */
	QF_HTTP_ADMIN,      /* platform administrator */
};

typedef struct qf_http_route_info {
	const char *method;
	const char *path;   /* "/api/v1/calculations/{id}" */
	int access;         /* QF_HTTP_* */
	const char *summary;
} qf_http_route_info;

/* The route table, in order; *n gets its length. */
const qf_http_route_info *qf_http_routes(size_t *n);

/* ---- in-process requests (the fuzz target) --------------------------------------- */

/* A server without a listening socket nor workers, on the store at url. */
int qf_server_new_local(qf_server **out, const char *store_url, qf_err *err);
/* Handle one request as if it came from 127.0.0.1: headers are
 * name/value pairs (2 * nheaders strings), url may carry a query string.
 * *status and the body (heap, *body_len bytes) of the answer. */
int qf_server_handle(qf_server *s, const char *method, const char *url, const char *const *headers,
                     size_t nheaders, const char *body, size_t body_len, int *status, char **out,
                     size_t *out_len);

#endif
