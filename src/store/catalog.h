/*
 * The table catalogue: for every user-data table its columns and their
 * types, the primary key, the owner and organisation columns, the time
 * column, which columns are generated or fixed, which may be filtered on
 * (indexed ones only), and which isolation rule applies. It drives the
 * generic row API (rows.c) and the scoping (scope.c), and is documented
 * table by table in sql/README.md.
 *
 * schema_migrations is not a user table and is not in the catalogue.
 */
#ifndef QF_STORE_CATALOG_H
#define QF_STORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum qf__ctype {
	QF__TEXT = 0, /* JSON string */
	QF__INT,      /* JSON integer (32-bit unless QF__C_BIG) */
	QF__REAL,     /* JSON number */
	QF__BOOL,     /* JSON true/false (SQLite 0/1, PostgreSQL boolean) */
	QF__JSON,     /* any JSON value (SQLite TEXT, PostgreSQL jsonb) */
	QF__TIME,     /* RFC 3339 UTC string (SQLite TEXT, PostgreSQL timestamptz) */
	QF__UUID,     /* lowercase UUID string (SQLite TEXT, PostgreSQL uuid) */
} qf__ctype;

enum {
	QF__C_PK = 1u << 0,        /* part of the primary key */
	QF__C_REQUIRED = 1u << 1,  /* NOT NULL without a database default: an insert gives it
	                              (after the store's own defaults below) */
	QF__C_NOTNULL = 1u << 2,   /* NOT NULL (with a database default) */
	QF__C_GENERATED = 1u << 3, /* filled by the database (serial ids): never written */
	QF__C_FIXED = 1u << 4,     /* written on insert only */
	QF__C_FILTER = 1u << 5,    /* indexed: may be filtered and ordered on */
	QF__C_AUTO_ID = 1u << 6,   /* uuid v7 when an insert leaves it out */
	QF__C_AUTO_NOW = 1u << 7,  /* qf_clock_now() when an insert leaves it out */
	QF__C_TOUCH = 1u << 8,     /* qf_clock_now() on every update that leaves it out */
	QF__C_OWNER = 1u << 9,     /* the owner: defaults to the actor's user */
	QF__C_ORG = 1u << 10,      /* the organisation the row belongs to */
	QF__C_SECRET = 1u << 11,   /* hashes and secrets: returned to the system actor only */
	QF__C_ADMIN = 1u << 12,    /* written by the system or a platform administrator only */
	QF__C_BIG = 1u << 13,      /* 64-bit integer */
	QF__C_LOG = 1u << 14,      /* captured program output: QF_STORE_MAX_LOG_BYTES */
};

/* How rows of a table are scoped (store.h, and scope.c for the details). */
typedef enum qf__rule {
	QF__RULE_OWNED = 0,   /* owner column (+ organisation column) */
	QF__RULE_KEYS,        /* api_keys: owned, but only the key's owner changes it */
	QF__RULE_USERS,       /* users: self and co-members */
	QF__RULE_ORGS,        /* organisations: owner and members; admins manage */
	QF__RULE_MEMBERSHIPS, /* memberships: members see; organisation admins manage */
	QF__RULE_AUDIT,       /* user_audit_log: append-only */
	QF__RULE_SYSTEM,      /* user_credentials: the system only (not even platform
	                         administrators read or write it) */
	QF__RULE_OUTBOX,      /* notification_outbox: the owner reads, the system
	                         writes (a user cannot make the server send) */
} qf__rule;

typedef struct qf__column {
	const char *name;
	qf__ctype type;
	unsigned flags;
	size_t max_len;   /* bytes of a TEXT value; 0 = QF_STORE_MAX_TEXT */
	const char *ref;  /* table whose row this uuid names (must be visible), or NULL */
} qf__column;

typedef struct qf__table {
	const char *name;
	const qf__column *cols;
	int ncols;
	qf__rule rule;
	int owner; /* column index of the owner column, -1 none */
	int org;   /* column index of the organisation column, -1 none */
	int time;  /* column index of the time column, -1 none */
	int pk[2]; /* column indices of the primary key */
	int npk;
	bool personal; /* the user's own account data: a viewer writes its own rows */
} qf__table;

/* Every table, in a stable order. */
int qf__catalog_count(void);
const qf__table *qf__catalog_at(int i);
/* A table by name, or NULL. */
const qf__table *qf__catalog_find(const char *name);
/* A column index by name, or -1. */
int qf__table_col(const qf__table *t, const char *name);

#endif
