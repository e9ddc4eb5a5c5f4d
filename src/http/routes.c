/*
 * The route table: every endpoint of the server, who may call it, how it
 * takes its body. The OpenAPI document (src/http/openapi.json, served at
 * /api/v1/openapi.json) describes exactly these routes:
 * tests/integration/http/test_openapi.c fails when one is missing there or
 * the document names one that is not here.
 */
#include "http_int.h"

#define PUB QF_HTTP_PUBLIC
#define USR QF_HTTP_USER
#define WRT QF_HTTP_WRITER
#define ADM QF_HTTP_ADMIN
#define NONE QF__BODY_NONE
#define JSON QF__BODY_JSON
#define UPLOAD QF__BODY_UPLOAD

const qf__route qf__routes[] = {
	{"GET", "/livez", h_livez, PUB, NONE, QF__R_NO_LOG, "the process is up"},
	{"GET", "/readyz", h_readyz, PUB, NONE, QF__R_NO_LOG, "the store answers (503 when not)"},
	{"GET", "/metrics", h_metrics, PUB, NONE, QF__R_NO_LOG, "Prometheus metrics"},
	{"GET", "/api/v1/openapi.json", h_openapi, PUB, NONE, QF__R_NO_LOG, "this API, as OpenAPI 3.1"},

	{"POST", "/api/v1/auth/register", h_register, PUB, JSON, QF__R_NO_CSRF | QF__R_AUTH,
	 "create an account (the first one is the administrator)"},
	{"POST", "/api/v1/auth/login", h_login, PUB, JSON, QF__R_NO_CSRF | QF__R_AUTH,
	 "log in with e-mail and password: a session token and cookie"},
	{"POST", "/api/v1/auth/logout", h_logout, USR, NONE, 0, "end this session"},
	{"GET", "/api/v1/auth/me", h_me, USR, NONE, 0, "who is signed in"},
	{"POST", "/api/v1/auth/password", h_password, USR, JSON, 0, "change one's password"},
	{"POST", "/api/v1/auth/2fa/enroll", h_2fa_enroll, USR, NONE, 0,
	 "start two-factor login: a new TOTP secret and its otpauth:// URI (shown once)"},
	{"POST", "/api/v1/auth/2fa/confirm", h_2fa_confirm, USR, JSON, 0,
	 "turn two-factor login on with a code: ten backup codes (shown once)"},
	{"POST", "/api/v1/auth/2fa/disable", h_2fa_disable, USR, JSON, 0,
	 "turn two-factor login off with the password and a code (or a backup code)"},

	{"POST", "/api/v1/molecules", h_molecules_create, WRT, UPLOAD, 0,
	 "create a molecule from XYZ, SDF or SMILES"},
	{"GET", "/api/v1/molecules", h_molecules_list, USR, NONE, 0, "list molecules"},
	{"GET", "/api/v1/molecules/{id}", h_molecules_get, USR, NONE, 0, "one molecule"},
	{"DELETE", "/api/v1/molecules/{id}", h_molecules_delete, WRT, NONE, 0,
	 "delete a molecule (and its calculations)"},

	{"POST", "/api/v1/calculations", h_calcs_submit, WRT, JSON, 0,
	 "submit calculations of molecules with a spec"},
	{"GET", "/api/v1/calculations", h_calcs_list, USR, NONE, 0, "list calculations"},
	{"GET", "/api/v1/calculations/{id}", h_calcs_get, USR, NONE, 0,
	 "one calculation with its results and per-atom properties"},
	{"POST", "/api/v1/calculations/{id}/cancel", h_calcs_cancel, WRT, NONE, 0,
	 "cancel a calculation"},
	{"POST", "/api/v1/calculations/{id}/retry", h_calcs_retry, WRT, JSON, 0,
	 "queue a failed calculation again"},
	{"GET", "/api/v1/calculations/{id}/metrics", h_calcs_metrics, USR, NONE, 0,
	 "a calculation, its execution metrics and its errors"},
	{"GET", "/api/v1/calculations/{id}/files", h_calcs_files, USR, NONE, 0,
	 "the files of a calculation's job directory"},
	{"GET", "/api/v1/calculations/{id}/files/{name}", h_calcs_file, USR, NONE, 0,
	 "download one file of a job directory"},

	{"POST", "/api/v1/batches", h_batches_create, WRT, UPLOAD, 0,
	 "create a batch from a multi-molecule file"},
	{"GET", "/api/v1/batches", h_batches_list, USR, NONE, 0, "list batches"},
	{"GET", "/api/v1/batches/{id}", h_batches_get, USR, NONE, 0,
	 "a batch: counts, failures, statistics"},
	{"GET", "/api/v1/batches/{id}/performance", h_batches_performance, USR, NONE, 0,
	 "a batch's performance statistics"},
	{"POST", "/api/v1/batches/{id}/cancel", h_batches_cancel, WRT, NONE, 0,
	 "cancel what has not finished"},
	{"POST", "/api/v1/batches/{id}/retry", h_batches_retry, WRT, JSON, 0,
	 "queue the failed calculations again"},

	{"GET", "/api/v1/dashboard", h_dashboard, USR, NONE, 0,
	 "performance aggregates, failures, queue, throughput and the slow-down alert"},

	{"GET", "/api/v1/preferences", h_prefs_get, USR, NONE, 0, "one's preferences"},
	{"PUT", "/api/v1/preferences", h_prefs_put, USR, JSON, 0, "replace one's preferences"},
	{"GET", "/api/v1/notifications", h_notify_list, USR, NONE, 0,
	 "one's notifications and how their delivery went"},
	{"POST", "/api/v1/notifications/test", h_notify_test, USR, NONE, 0,
	 "send oneself a test notification on each enabled channel"},
	{"GET", "/api/v1/session", h_session_get, USR, NONE, 0, "one's saved UI state"},
	{"PUT", "/api/v1/session", h_session_put, USR, JSON, 0, "replace one's saved UI state"},

	{"POST", "/api/v1/api-keys", h_keys_create, USR, JSON, 0, "create an API key (shown once)"},
	{"GET", "/api/v1/api-keys", h_keys_list, USR, NONE, 0, "one's API keys (prefixes only)"},
	{"DELETE", "/api/v1/api-keys/{id}", h_keys_revoke, USR, NONE, 0, "revoke an API key"},

	{"POST", "/api/v1/organisations", h_orgs_create, WRT, JSON, 0,
	 "create an organisation (its maker is its first administrator)"},
	{"GET", "/api/v1/organisations", h_orgs_list, USR, NONE, 0, "organisations one belongs to"},
	{"GET", "/api/v1/organisations/{id}", h_orgs_get, USR, NONE, 0, "one organisation"},
	{"GET", "/api/v1/organisations/{id}/members", h_members_list, USR, NONE, 0,
	 "an organisation's members"},
	{"PUT", "/api/v1/organisations/{id}/members/{user_id}", h_members_put, USR, JSON, 0,
	 "add a member or change its role (organisation admins)"},
	{"DELETE", "/api/v1/organisations/{id}/members/{user_id}", h_members_delete, USR, NONE, 0,
	 "remove a member (organisation admins)"},

	{"GET", "/api/v1/users", h_users_list, ADM, NONE, 0, "every user"},
	{"GET", "/api/v1/users/{id}", h_users_get, USR, NONE, 0, "one user"},
	{"PATCH", "/api/v1/users/{id}", h_users_patch, USR, JSON, 0,
	 "change a user (administrators: role, disabled, quotas; oneself: display name)"},
	{"POST", "/api/v1/invites", h_invites_create, ADM, JSON, 0,
	 "invite someone to register (the code is shown once)"},
	{"GET", "/api/v1/invites", h_invites_list, ADM, NONE, 0, "invitations made"},

	{"GET", "/api/v1/audit", h_audit_list, USR, NONE, 0,
	 "the audit log: one's own entries; administrators search all"},
	{"GET", "/api/v1/events", h_events, USR, NONE, QF__R_STREAM | QF__R_NO_LOG,
	 "Server-Sent Events: status changes of one's calculations and batches"},

	{"GET", "/api/v1/exports", h_export, USR, NONE, 0,
	 "download calculations as CSV, JSONL, JSON, extended XYZ, SDF, HDF5 or QCSchema"},
	{"GET", "/rest/v1/{view}", h_rest_select, USR, NONE, 0,
	 "the query views in PostgREST's syntax (filters, select, order, Range, Prefer: count=exact)"},

	/* the web app: its files, and index.html for every other path (last) */
	{"GET", "/{*path}", h_static, PUB, NONE, QF__R_NO_LOG, "the web app"},
};

const size_t qf__nroutes = sizeof(qf__routes) / sizeof(qf__routes[0]);
