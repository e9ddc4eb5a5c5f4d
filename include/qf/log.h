/*
 * Operator log on stderr: one line per event, "ts level module: message".
 * Level from QF_LOG (error|warn|info|debug; default warn for the CLI).
 */
#ifndef QF_LOG_H
#define QF_LOG_H

typedef enum { QF_LOG_ERROR = 0, QF_LOG_WARN, QF_LOG_INFO, QF_LOG_DEBUG } qf_log_level;

void qf_log_set_level(qf_log_level l);
qf_log_level qf_log_get_level(void);
void qf_log(qf_log_level l, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define qf_log_error(m, ...) qf_log(QF_LOG_ERROR, m, __VA_ARGS__)
#define qf_log_warn(m, ...) qf_log(QF_LOG_WARN, m, __VA_ARGS__)
#define qf_log_info(m, ...) qf_log(QF_LOG_INFO, m, __VA_ARGS__)
#define qf_log_debug(m, ...) qf_log(QF_LOG_DEBUG, m, __VA_ARGS__)

#endif
