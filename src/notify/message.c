/*
 * What a notification says: a subject naming the calculation or batch and
 * a short plain-text body, from the outbox row's payload (written by the
 * store, src/store/outbox.c). Names come from users: control characters
 * are replaced, lengths capped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/buf.h"
#include "qf/notify.h"
#include "qf/str.h"

/* A member as one line of text: at most max bytes, controls blanked. */
static void text(const json_t *p, const char *key, char *out, size_t max, const char *def)
{
	const char *v = json_string_value(json_object_get(p, key));
	qf_strlcpy(out, v && *v ? v : def, max);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

static int calculation(qf_buf *s, qf_buf *b, const json_t *p, bool ok)
{
	char name[128], id[64], method[16], task[16];
	text(p, "name", name, sizeof(name), "(unnamed)");
	text(p, "calculation_id", id, sizeof(id), "?");
	text(p, "method", method, sizeof(method), "?");
	text(p, "task", task, sizeof(task), "?");
	int rc = qf_buf_printf(s, "[Quantum Forge] calculation %s %s", name, ok ? "completed" : "failed");
	rc = rc ? rc : qf_buf_printf(b, "Calculation %s (%s, %s %s) %s.\n", name, id, method, task,
	                             ok ? "completed" : "failed");
	json_t *e = json_object_get(p, "total_energy"), *g = json_object_get(p, "homo_lumo_gap");
	if (!rc && json_is_number(e))
		rc = qf_buf_printf(b, "Total energy: %.8f Eh\n", json_number_value(e));
	if (!rc && json_is_number(g))
		rc = qf_buf_printf(b, "HOMO-LUMO gap: %.4f eV\n", json_number_value(g));
	if (!rc && !ok) {
		char cat[32], code[64], msg[600];
		text(p, "error_category", cat, sizeof(cat), "unknown");
		text(p, "error_code", code, sizeof(code), "unknown");
		text(p, "error_message", msg, sizeof(msg), "no message");
		rc = qf_buf_printf(b, "Error (%s, %s): %s\n", cat, code, msg);
	}
	return rc;
}

static int batch(qf_buf *s, qf_buf *b, const json_t *p)
{
	char name[128], id[64];
	text(p, "name", name, sizeof(name), "(unnamed)");
	text(p, "batch_id", id, sizeof(id), "?");
	int rc = qf_buf_printf(s, "[Quantum Forge] batch %s completed", name);
	return rc ? rc
	          : qf_buf_printf(b,
	                          "Batch %s (%s) finished: %lld jobs, %lld completed, %lld failed, "
	                          "%lld cancelled.\n",
	                          name, id, (long long)json_integer_value(json_object_get(p, "total")),
	                          (long long)json_integer_value(json_object_get(p, "completed")),
	                          (long long)json_integer_value(json_object_get(p, "failed")),
	                          (long long)json_integer_value(json_object_get(p, "cancelled")));
}

int qf_notify_format(const char *event, const json_t *payload, char **subject, char **body,
                     qf_err *err)
{
	*subject = *body = NULL;
	qf_buf s, b;
	qf_buf_init(&s, 1024);
	qf_buf_init(&b, QF_NOTIFY_MAX_MESSAGE / 2);
	int rc;
	if (!strcmp(event, "calculation_completed") || !strcmp(event, "calculation_failed"))
		rc = calculation(&s, &b, payload, !strcmp(event, "calculation_completed"));
	else if (!strcmp(event, "batch_completed"))
		rc = batch(&s, &b, payload);
	else if (!strcmp(event, "test"))
		rc = qf_buf_puts(&s, "[Quantum Forge] test notification") ||
		     qf_buf_puts(&b, "This is a test notification from Quantum Forge: this channel works.\n");
	else
		rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.event", "no notification event '%s'", event);
	if (!rc && !qf_err_is_set(err)) {
		*subject = qf_buf_detach(&s, NULL);
		*body = qf_buf_detach(&b, NULL);
		if (!*subject || !*body)
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	} else if (!qf_err_is_set(err)) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	qf_buf_release(&s);
	qf_buf_release(&b);
	if (rc) {
		free(*subject);
		free(*body);
		*subject = *body = NULL;
	}
	return rc;
}
