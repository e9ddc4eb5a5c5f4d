/* Numbered migrations, embedded from sql/<backend>/NNN_name.sql at build
 * time (cmake/embed_sql.cmake). Arrays end with a {0, 0, 0} entry. */
#ifndef QF_STORE_MIGRATIONS_H
#define QF_STORE_MIGRATIONS_H

typedef struct qf__migration {
	int version;      /* NNN */
	const char *name; /* "001_schema" */
	const char *sql;
} qf__migration;

extern const qf__migration qf__migrations_sqlite[];
extern const int qf__migrations_sqlite_count;
extern const qf__migration qf__migrations_postgres[];
extern const int qf__migrations_postgres_count;

#endif
