/*
 * The table catalogue (see catalog.h). The columns follow
 * sql/postgres/001_schema.sql and sql/sqlite/001_schema.sql one for one;
 * the store's tests check every catalogued column against the live schema
 * of both backends.
 */
#include <pthread.h>
#include <string.h>

#include "catalog.h"
#include "qf/limits.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Shorthands for the flags. */
#define PK QF__C_PK
#define REQ QF__C_REQUIRED
#define NN QF__C_NOTNULL
#define GEN QF__C_GENERATED
#define FIX QF__C_FIXED
#define FLT QF__C_FILTER
#define AID QF__C_AUTO_ID
#define NOW QF__C_AUTO_NOW
#define TCH QF__C_TOUCH
#define OWN QF__C_OWNER
#define ORG QF__C_ORG
#define SEC QF__C_SECRET
#define ADM QF__C_ADMIN
#define BIG QF__C_BIG
#define LOG QF__C_LOG

/* The id columns every table starts with. */
#define UUID_ID {"id", QF__UUID, PK | REQ | FIX | FLT | AID, 0, NULL}
#define SERIAL_ID {"id", QF__INT, PK | NN | GEN | FIX | FLT | BIG, 0, NULL}
#define CREATED {"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL}
#define CREATED_IDX {"created_at", QF__TIME, REQ | FIX | FLT | NOW, 0, NULL}

static const qf__column organisations[] = {
	UUID_ID,
	{"name", QF__TEXT, REQ, 200, NULL},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
};

static const qf__column users[] = {
	UUID_ID,
	{"email", QF__TEXT, REQ | FLT, 320, NULL},
	{"display_name", QF__TEXT, 0, 200, NULL},
	{"is_admin", QF__BOOL, NN | ADM, 0, NULL},
	{"disabled", QF__BOOL, NN | ADM, 0, NULL},
	{"storage_quota_mb", QF__REAL, ADM, 0, NULL},
	{"max_concurrent_jobs", QF__INT, ADM, 0, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
	{"last_login_at", QF__TIME, 0, 0, NULL},
	{"role", QF__TEXT, NN | ADM | FLT, 16, NULL}, /* 006_server */
};

static const qf__column memberships[] = {
	{"user_id", QF__UUID, PK | REQ | FIX | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, PK | REQ | FIX | ORG | FLT, 0, NULL},
	{"role", QF__TEXT, REQ, 32, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
};

static const qf__column api_keys[] = {
	UUID_ID,
	{"user_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"name", QF__TEXT, 0, 200, NULL},
	{"prefix", QF__TEXT, REQ | FLT, 64, NULL},
	{"key_hash", QF__TEXT, REQ | SEC, 512, NULL},
	{"scopes", QF__JSON, NN, 0, NULL},
	{"rate_limit_per_minute", QF__INT, 0, 0, NULL},
	CREATED,
	{"last_used_at", QF__TIME, 0, 0, NULL},
	{"expires_at", QF__TIME, 0, 0, NULL},
	{"revoked_at", QF__TIME, 0, 0, NULL},
};

static const qf__column auth_sessions[] = {
	UUID_ID,
	{"user_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"token_hash", QF__TEXT, REQ | SEC | FLT, 512, NULL},
	CREATED,
	{"expires_at", QF__TIME, REQ | FLT, 0, NULL},
	{"last_seen_at", QF__TIME, 0, 0, NULL},
	{"ip_address", QF__TEXT, 0, 64, NULL},
	{"user_agent", QF__TEXT, 0, 1024, NULL},
};

static const qf__column molecules[] = {
	UUID_ID,
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"name", QF__TEXT, REQ, QF_MAX_NAME, NULL},
	{"formula", QF__TEXT, REQ, 1024, NULL},
	{"natoms", QF__INT, REQ, 0, NULL},
	{"charge", QF__INT, REQ, 0, NULL},
	{"uhf", QF__INT, REQ, 0, NULL},
	{"atomic_numbers", QF__JSON, REQ, 0, NULL},
	{"coordinates", QF__JSON, REQ, 0, NULL},
	{"input_format", QF__TEXT, 0, 16, NULL},
	{"input_sha256", QF__TEXT, REQ | FLT, 64, NULL},
	{"geometry_sha256", QF__TEXT, REQ | FLT, 64, NULL},
	{"smiles", QF__TEXT, 0, 0, NULL},
	CREATED_IDX,
	{"input_text", QF__TEXT, 0, QF_QUEUE_MAX_INPUT_BYTES, NULL}, /* 006_server */
	{"embedding", QF__JSON, 0, 0, NULL},                         /* 011_embedding */
};

static const qf__column batches[] = {
	UUID_ID,
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"name", QF__TEXT, REQ, QF_MAX_NAME, NULL},
	{"spec", QF__JSON, REQ, 0, NULL},
	{"status", QF__TEXT, REQ | FLT, 16, NULL},
	{"total", QF__INT, NN, 0, NULL},
	{"source", QF__TEXT, 0, QF_MAX_PATH, NULL},
	CREATED_IDX,
	{"updated_at", QF__TIME, REQ | FLT | NOW | TCH, 0, NULL},
	{"finished_at", QF__TIME, 0, 0, NULL},
};

static const qf__column calculations[] = {
	UUID_ID,
	{"molecule_id", QF__UUID, REQ | FLT, 0, "molecules"},
	{"batch_id", QF__UUID, FLT, 0, "batches"},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"method", QF__TEXT, REQ | FLT, 16, NULL},
	{"task", QF__TEXT, REQ | FLT, 16, NULL},
	{"optimization_level", QF__TEXT, REQ, 16, NULL},
	{"solvation_model", QF__TEXT, 0, 16, NULL},
	{"solvent", QF__TEXT, 0, 64, NULL},
	{"charge", QF__INT, REQ, 0, NULL},
	{"uhf", QF__INT, REQ, 0, NULL},
	{"parameters", QF__JSON, REQ, 0, NULL},
	{"spec", QF__JSON, REQ, 0, NULL},
	{"status", QF__TEXT, REQ | FLT, 16, NULL},
	{"attempt", QF__INT, NN, 0, NULL},
	{"max_attempts", QF__INT, NN, 0, NULL},
	{"priority", QF__INT, NN, 0, NULL},
	{"lease_owner", QF__TEXT, 0, 256, NULL},
	{"lease_token", QF__TEXT, 0, 128, NULL},
	{"lease_expires_at", QF__TIME, 0, 0, NULL},
	{"not_before", QF__TIME, 0, 0, NULL},
	{"force_rerun", QF__BOOL, NN, 0, NULL},
	{"reused_from", QF__UUID, 0, 0, NULL},
	{"total_energy", QF__REAL, FLT, 0, NULL},
	{"homo_lumo_gap", QF__REAL, FLT, 0, NULL},
	{"dipole_moment", QF__REAL, 0, 0, NULL},
	{"is_converged", QF__BOOL, 0, 0, NULL},
	{"gradient_norm", QF__REAL, 0, 0, NULL},
	{"xtb_version", QF__TEXT, 0, 32, NULL},
	{"job_dir", QF__TEXT, 0, QF_MAX_PATH, NULL},
	{"results", QF__JSON, 0, 0, NULL},
	{"error_category", QF__TEXT, FLT, 16, NULL},
	{"error_code", QF__TEXT, 0, 64, NULL},
	{"error_message", QF__TEXT, 0, 0, NULL},
	CREATED_IDX,
	{"started_at", QF__TIME, 0, 0, NULL},
	{"finished_at", QF__TIME, 0, 0, NULL},
	{"updated_at", QF__TIME, REQ | FLT | NOW | TCH, 0, NULL},
	/* 004_queue */
	{"spec_key", QF__TEXT, 0, 4096, NULL},
	{"input_text", QF__TEXT, 0, QF_QUEUE_MAX_INPUT_BYTES, NULL},
	{"input_format", QF__TEXT, 0, 16, NULL},
	{"input_source", QF__TEXT, 0, QF_MAX_PATH, NULL},
	{"input_record", QF__INT, 0, 0, NULL},
	{"resume_coordinates", QF__JSON, 0, 0, NULL},
	{"cancel_requested", QF__BOOL, NN, 0, NULL},
	{"last_worker", QF__TEXT, 0, 256, NULL},
};

static const qf__column atomic_properties[] = {
	{"calculation_id", QF__UUID, PK | REQ | FIX | FLT, 0, "calculations"},
	{"atom_index", QF__INT, PK | REQ | FIX, 0, NULL},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"atomic_number", QF__INT, REQ, 0, NULL},
	{"element", QF__TEXT, REQ, 3, NULL},
	{"x", QF__REAL, REQ, 0, NULL},
	{"y", QF__REAL, REQ, 0, NULL},
	{"z", QF__REAL, REQ, 0, NULL},
	{"partial_charge", QF__REAL, 0, 0, NULL},
	{"force_x", QF__REAL, 0, 0, NULL},
	{"force_y", QF__REAL, 0, 0, NULL},
	{"force_z", QF__REAL, 0, 0, NULL},
};

static const qf__column user_sessions[] = {
	UUID_ID,
	{"user_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"session_token", QF__TEXT, REQ | SEC | FLT, 512, NULL},
	{"current_view", QF__TEXT, 0, 64, NULL},
	{"active_molecule_id", QF__UUID, 0, 0, NULL},
	{"active_calculation_id", QF__UUID, 0, 0, NULL},
	{"editor_content", QF__JSON, 0, 0, NULL},
	{"sidebar_state", QF__JSON, 0, 0, NULL},
	{"theme_preference", QF__TEXT, 0, 16, NULL},
	{"ui_preferences", QF__JSON, 0, 0, NULL},
	{"last_activity", QF__TIME, REQ | FLT | NOW | TCH, 0, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
	{"expires_at", QF__TIME, 0, 0, NULL},
};

static const qf__column calculation_execution_metrics[] = {
	SERIAL_ID,
	{"calculation_id", QF__UUID, REQ | FLT, 0, "calculations"},
	{"attempt", QF__INT, NN, 0, NULL},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"xtb_version", QF__TEXT, 0, 32, NULL},
	{"method", QF__TEXT, 0, 32, NULL},
	{"solvation_model", QF__TEXT, 0, 64, NULL},
	{"optimization_level", QF__TEXT, 0, 16, NULL},
	{"wall_time_seconds", QF__REAL, 0, 0, NULL},
	{"cpu_time_seconds", QF__REAL, 0, 0, NULL},
	{"scf_cycles", QF__INT, 0, 0, NULL},
	{"optimization_cycles", QF__INT, 0, 0, NULL},
	{"convergence_iterations", QF__INT, 0, 0, NULL},
	{"memory_peak_mb", QF__REAL, 0, 0, NULL},
	{"is_converged", QF__BOOL, 0, 0, NULL},
	{"convergence_criterion_met", QF__REAL, 0, 0, NULL},
	{"exit_code", QF__INT, 0, 0, NULL},
	{"worker", QF__TEXT, 0, 256, NULL},
	{"stdout_log", QF__TEXT, LOG, 0, NULL},
	{"stderr_log", QF__TEXT, LOG, 0, NULL},
	CREATED_IDX,
	{"started_at", QF__TIME, 0, 0, NULL}, /* 004_queue */
	/* 007_slurm: where the attempt ran when Slurm started its worker */
	{"slurm_job_id", QF__INT, FLT | BIG, 0, NULL},
	{"slurm_array_task_id", QF__INT, 0, 0, NULL},
	{"slurm_node", QF__TEXT, FLT, 256, NULL},
};

static const qf__column calculation_errors[] = {
	SERIAL_ID,
	{"calculation_id", QF__UUID, REQ | FLT, 0, "calculations"},
	{"attempt", QF__INT, NN, 0, NULL},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"error_type", QF__TEXT, REQ | FLT, 16, NULL},
	{"error_severity", QF__TEXT, REQ, 16, NULL},
	{"error_message", QF__TEXT, REQ, 0, NULL},
	{"error_code", QF__TEXT, REQ, 64, NULL},
	{"stack_trace", QF__TEXT, 0, 0, NULL},
	{"retry_count", QF__INT, NN, 0, NULL},
	{"retry_attempts", QF__JSON, NN, 0, NULL},
	{"user_action_required", QF__BOOL, NN, 0, NULL},
	{"resolution", QF__TEXT, 0, 16, NULL},
	{"resolution_notes", QF__TEXT, 0, 0, NULL},
	CREATED_IDX,
	{"resolved_at", QF__TIME, 0, 0, NULL},
};

static const qf__column performance_metrics[] = {
	SERIAL_ID,
	{"user_id", QF__UUID, OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG, 0, NULL},
	{"metric_type", QF__TEXT, REQ | FLT, 64, NULL},
	{"metric_name", QF__TEXT, REQ, 128, NULL},
	{"value", QF__REAL, REQ, 0, NULL},
	{"unit", QF__TEXT, 0, 32, NULL},
	{"tags", QF__JSON, 0, 0, NULL},
	{"timestamp", QF__TIME, REQ | FLT | NOW, 0, NULL},
};

static const qf__column user_preferences[] = {
	{"user_id", QF__UUID, PK | REQ | FIX | OWN | FLT, 0, NULL},
	{"display_units", QF__TEXT, NN, 16, NULL},
	{"display_precision", QF__INT, NN, 0, NULL},
	{"default_optimization_level", QF__TEXT, NN, 16, NULL},
	{"default_method", QF__TEXT, NN, 16, NULL},
	{"default_solvation", QF__TEXT, 0, 64, NULL},
	{"theme", QF__TEXT, NN, 16, NULL},
	{"language", QF__TEXT, NN, 16, NULL},
	{"enable_email_notifications", QF__BOOL, NN, 0, NULL},
	{"enable_slack_notifications", QF__BOOL, NN, 0, NULL},
	{"slack_webhook_url", QF__TEXT, SEC, 2048, NULL},
	{"notification_on_completion", QF__BOOL, NN, 0, NULL},
	{"notification_on_error", QF__BOOL, NN, 0, NULL},
	{"updated_at", QF__TIME, REQ | NOW | TCH, 0, NULL},
	{"notification_on_batch_completion", QF__BOOL, NN, 0, NULL}, /* 010_notifications */
};

static const qf__column api_usage_logs[] = {
	SERIAL_ID,
	{"user_id", QF__UUID, OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG, 0, NULL},
	{"endpoint", QF__TEXT, REQ, 255, NULL},
	{"method", QF__TEXT, REQ, 10, NULL},
	{"status_code", QF__INT, REQ | FLT, 0, NULL},
	{"response_time_ms", QF__INT, REQ, 0, NULL},
	{"request_size_bytes", QF__INT, 0, 0, NULL},
	{"response_size_bytes", QF__INT, 0, 0, NULL},
	{"error_message", QF__TEXT, 0, 0, NULL},
	{"query_parameters", QF__JSON, 0, 0, NULL},
	CREATED_IDX,
};

static const qf__column molecule_properties_computed[] = {
	SERIAL_ID,
	{"molecule_id", QF__UUID, REQ | FLT, 0, "molecules"},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"molecular_weight", QF__REAL, FLT, 0, NULL},
	{"logp", QF__REAL, FLT, 0, NULL},
	{"hydrogen_bond_donors", QF__INT, 0, 0, NULL},
	{"hydrogen_bond_acceptors", QF__INT, 0, 0, NULL},
	{"rotatable_bonds", QF__INT, 0, 0, NULL},
	{"topological_polar_surface_area", QF__REAL, 0, 0, NULL},
	{"molar_refractivity", QF__REAL, 0, 0, NULL},
	{"computed_at", QF__TIME, REQ | NOW, 0, NULL},
	/* 008_descriptors */
	{"canonical_smiles", QF__TEXT, 0, 0, NULL},
	{"descriptor_source", QF__TEXT, 0, 16, NULL},
	{"error_code", QF__TEXT, 0, 64, NULL},
	{"error_message", QF__TEXT, 0, 0, NULL},
};

static const qf__column batch_job_performance[] = {
	{"batch_id", QF__UUID, PK | REQ | FIX | FLT, 0, "batches"},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"execution_start_time", QF__TIME, 0, 0, NULL},
	{"execution_end_time", QF__TIME, 0, 0, NULL},
	{"total_execution_time_seconds", QF__REAL, 0, 0, NULL},
	{"average_job_time_seconds", QF__REAL, 0, 0, NULL},
	{"min_job_time_seconds", QF__REAL, 0, 0, NULL},
	{"max_job_time_seconds", QF__REAL, 0, 0, NULL},
	{"failed_jobs", QF__INT, NN, 0, NULL},
	{"successful_jobs", QF__INT, NN, 0, NULL},
	{"timeout_jobs", QF__INT, NN, 0, NULL},
	{"convergence_failure_jobs", QF__INT, NN, 0, NULL},
	{"average_memory_mb", QF__REAL, 0, 0, NULL},
	{"total_cpu_time_hours", QF__REAL, 0, 0, NULL},
	{"parallelization_efficiency", QF__REAL, 0, 0, NULL},
	{"error_breakdown", QF__JSON, NN, 0, NULL},
	{"updated_at", QF__TIME, REQ | NOW | TCH, 0, NULL},
	/* 004_queue: the sums behind the averages */
	{"workers", QF__INT, NN, 0, NULL},
	{"timed_attempts", QF__INT, NN, 0, NULL},
	{"job_time_sum_seconds", QF__REAL, NN, 0, NULL},
	{"memory_sum_mb", QF__REAL, NN, 0, NULL},
};

/* 004_queue: the worker slots that ran attempts of a batch. */
static const qf__column batch_workers[] = {
	{"batch_id", QF__UUID, PK | REQ | FIX | FLT, 0, "batches"},
	{"worker", QF__TEXT, PK | REQ | FIX, 256, NULL},
	{"owner_id", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"attempts", QF__INT, NN, 0, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
	{"updated_at", QF__TIME, REQ | NOW | TCH, 0, NULL},
};

/* 005_user_credentials: secrets of sign-in, the system's alone. */
static const qf__column user_credentials[] = {
	{"user_id", QF__UUID, PK | REQ | FIX | FLT, 0, NULL},
	{"password_hash", QF__TEXT, SEC, 512, NULL},
	{"totp_secret", QF__TEXT, SEC, 512, NULL}, /* sealed (qf_secret_seal) */
	{"updated_at", QF__TIME, REQ | NOW | TCH, 0, NULL},
	/* 009_totp: two-factor login */
	{"totp_enabled", QF__BOOL, NN, 0, NULL},
	{"totp_confirmed_at", QF__TIME, 0, 0, NULL},
	{"totp_last_step", QF__INT, BIG, 0, NULL},
};

/* 009_totp: one-time backup codes of two-factor login (SHA-256), the
 * system's alone like user_credentials. */
static const qf__column user_backup_codes[] = {
	{"user_id", QF__UUID, PK | REQ | FIX | FLT, 0, NULL},
	{"code_hash", QF__TEXT, PK | REQ | FIX | SEC, 64, NULL},
	{"created_at", QF__TIME, REQ | FIX | NOW, 0, NULL},
	{"used_at", QF__TIME, 0, 0, NULL},
};

static const qf__column user_audit_log[] = {
	SERIAL_ID,
	{"user_id", QF__UUID, OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"action", QF__TEXT, REQ | FLT, 100, NULL},
	{"entity_type", QF__TEXT, 0, 50, NULL},
	{"entity_id", QF__TEXT, 0, 128, NULL},
	{"changes", QF__JSON, 0, 0, NULL},
	{"ip_address", QF__TEXT, 0, 64, NULL},
	{"user_agent", QF__TEXT, 0, 1024, NULL},
	{"status", QF__TEXT, REQ, 16, NULL},
	{"reason", QF__TEXT, 0, 0, NULL},
	CREATED_IDX,
};

/* 006_server: invitations to register (the code is kept as its SHA-256). */
static const qf__column invites[] = {
	UUID_ID,
	{"created_by", QF__UUID, REQ | OWN | FLT, 0, NULL},
	{"org_id", QF__UUID, ORG | FLT, 0, NULL},
	{"email", QF__TEXT, 0, 320, NULL},
	{"role", QF__TEXT, NN, 16, NULL},
	{"code_hash", QF__TEXT, REQ | SEC | FLT, 64, NULL},
	CREATED_IDX,
	{"expires_at", QF__TIME, REQ, 0, NULL},
	{"used_at", QF__TIME, 0, 0, NULL},
	{"used_by", QF__UUID, 0, 0, NULL},
};

/* 010_notifications: messages to send (src/notify/): users read their own,
 * the platform writes them. */
static const qf__column notification_outbox[] = {
	UUID_ID,
	{"user_id", QF__UUID, REQ | FIX | OWN | FLT, 0, NULL},
	{"channel", QF__TEXT, REQ | FIX | FLT, 16, NULL},
	{"event", QF__TEXT, REQ | FIX | FLT, 32, NULL},
	{"subject_id", QF__UUID, FIX, 0, NULL},
	{"payload", QF__JSON, REQ, 0, NULL},
	{"status", QF__TEXT, NN | FLT, 16, NULL},
	{"attempts", QF__INT, NN, 0, NULL},
	{"next_attempt_at", QF__TIME, REQ | NOW, 0, NULL},
	{"last_error", QF__TEXT, 0, QF_NOTIFY_MAX_ERROR, NULL},
	CREATED_IDX,
	{"updated_at", QF__TIME, REQ | NOW | TCH, 0, NULL},
	{"sent_at", QF__TIME, 0, 0, NULL},
};

/* The table, its rule and its time column; the rest is derived from the
 * column flags at first use. */
typedef struct table_def {
	const char *name;
	const qf__column *cols;
	int ncols;
	qf__rule rule;
	const char *time;
	bool personal;
} table_def;

#define T(name, rule, time) {#name, name, N(name), rule, time, false}
/* A table of the user's own account (its user row, sessions, keys,
 * preferences, UI state, what the audit log says it did): a viewer, who
 * reads only, still writes its own rows there. */
#define P(name, rule, time) {#name, name, N(name), rule, time, true}

static const table_def defs[] = {
	T(organisations, QF__RULE_ORGS, "created_at"),
	P(users, QF__RULE_USERS, "created_at"),
	T(memberships, QF__RULE_MEMBERSHIPS, "created_at"),
	P(api_keys, QF__RULE_KEYS, "created_at"),
	P(auth_sessions, QF__RULE_OWNED, "created_at"),
	T(molecules, QF__RULE_OWNED, "created_at"),
	T(batches, QF__RULE_OWNED, "created_at"),
	T(calculations, QF__RULE_OWNED, "created_at"),
	T(atomic_properties, QF__RULE_OWNED, NULL),
	P(user_sessions, QF__RULE_OWNED, "last_activity"),
	T(calculation_execution_metrics, QF__RULE_OWNED, "created_at"),
	T(calculation_errors, QF__RULE_OWNED, "created_at"),
	T(performance_metrics, QF__RULE_OWNED, "timestamp"),
	P(user_preferences, QF__RULE_OWNED, "updated_at"),
	T(api_usage_logs, QF__RULE_OWNED, "created_at"),
	T(molecule_properties_computed, QF__RULE_OWNED, "computed_at"),
	T(batch_job_performance, QF__RULE_OWNED, "updated_at"),
	P(user_audit_log, QF__RULE_AUDIT, "created_at"),
	T(batch_workers, QF__RULE_OWNED, "created_at"),
	T(user_credentials, QF__RULE_SYSTEM, "updated_at"),
	T(invites, QF__RULE_OWNED, "created_at"),
	T(notification_outbox, QF__RULE_OUTBOX, "created_at"),
	T(user_backup_codes, QF__RULE_SYSTEM, "created_at"),
};

#define NTABLES N(defs)

static qf__table tables[NTABLES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int find_col(const qf__column *cols, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (!strcmp(cols[i].name, name))
			return i;
	return -1;
}

static void build(void)
{
	for (int i = 0; i < NTABLES; i++) {
		const table_def *d = &defs[i];
		qf__table *t = &tables[i];
		t->name = d->name;
		t->cols = d->cols;
		t->ncols = d->ncols;
		t->rule = d->rule;
		t->personal = d->personal;
		t->owner = t->org = -1;
		t->time = find_col(d->cols, d->ncols, d->time);
		t->npk = 0;
		for (int c = 0; c < d->ncols; c++) {
			unsigned f = d->cols[c].flags;
			if ((f & QF__C_OWNER) && t->owner < 0)
				t->owner = c;
			if ((f & QF__C_ORG) && t->org < 0)
				t->org = c;
			if ((f & QF__C_PK) && t->npk < 2)
				t->pk[t->npk++] = c;
		}
	}
}

int qf__catalog_count(void)
{
	return NTABLES;
}

const qf__table *qf__catalog_at(int i)
{
	pthread_once(&once, build);
	return i >= 0 && i < NTABLES ? &tables[i] : NULL;
}

const qf__table *qf__catalog_find(const char *name)
{
	pthread_once(&once, build);
	for (int i = 0; name && i < NTABLES; i++)
		if (!strcmp(tables[i].name, name))
			return &tables[i];
	return NULL;
}

int qf__table_col(const qf__table *t, const char *name)
{
	return find_col(t->cols, t->ncols, name);
}
