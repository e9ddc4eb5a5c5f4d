-- The queue (src/store/queue.c): what a submitted calculation keeps so that
-- any worker, on any attempt, runs exactly what was asked ("inputs are never
-- consumed"), what reuse of identical work looks up, and the per-batch
-- counters that keep batch_job_performance up to date one finished job at a
-- time. Same columns as sql/postgres/004_queue.sql.

-- calculations: the request as given and the state of the job.
--   spec_key            the spec asked for, as canonical JSON (compact, keys
--                       sorted, effective charge and uhf, without the timeout):
--                       identical work has identical keys
--   input_text          the record as given (a retried or re-queued job reads it
--                       again); input_format, input_source, input_record: its
--                       format, where it came from, its 1-based record number
--   resume_coordinates  [[x, y, z], ...]: the last geometry of a failed
--                       optimisation attempt, where the next attempt starts
--   cancel_requested    someone asked to cancel the running job; its worker
--                       stops it at the next heartbeat
--   last_worker         who claimed it last ("host:pid/slot")
ALTER TABLE calculations ADD COLUMN spec_key TEXT;
ALTER TABLE calculations ADD COLUMN input_text TEXT;
ALTER TABLE calculations ADD COLUMN input_format TEXT;
ALTER TABLE calculations ADD COLUMN input_source TEXT;
ALTER TABLE calculations ADD COLUMN input_record INTEGER;
ALTER TABLE calculations ADD COLUMN resume_coordinates TEXT
    CHECK (resume_coordinates IS NULL OR json_valid(resume_coordinates));
ALTER TABLE calculations ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_requested IN (0, 1));
ALTER TABLE calculations ADD COLUMN last_worker TEXT;

-- The claim: queued jobs, highest priority first, then oldest (the id breaks
-- ties of jobs submitted in the same millisecond); not_before is checked on
-- the rows the index yields. The sweep uses calculations_lease (001).
DROP INDEX calculations_queue;
CREATE INDEX calculations_queue ON calculations (status, priority DESC, created_at, id);
-- Reuse: completed calculations of a molecule (found by geometry_sha256)
-- with the same spec.
CREATE INDEX calculations_reuse ON calculations (molecule_id, spec_key) WHERE status = 'completed';

-- calculation_execution_metrics: when the attempt started (the batch's
-- execution start is the earliest of these).
ALTER TABLE calculation_execution_metrics ADD COLUMN started_at TEXT;

-- batch_job_performance: the sums behind the averages, so that a finished
-- job updates them without reading the batch again.
--   workers               distinct worker slots that ran attempts of the batch
--   timed_attempts        attempts that ran (their wall time is known)
--   job_time_sum_seconds  their wall times, summed
--   memory_sum_mb         their peak memory, summed
ALTER TABLE batch_job_performance ADD COLUMN workers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_job_performance ADD COLUMN timed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_job_performance ADD COLUMN job_time_sum_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE batch_job_performance ADD COLUMN memory_sum_mb REAL NOT NULL DEFAULT 0;

-- The worker slots that ran attempts of a batch (one row each): a finished
-- attempt from a slot not yet here adds one to batch_job_performance.workers.
CREATE TABLE batch_workers (
    batch_id     TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    worker       TEXT NOT NULL,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    org_id       TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (batch_id, worker)
);
CREATE INDEX batch_workers_owner ON batch_workers (owner_id);
CREATE INDEX batch_workers_org ON batch_workers (org_id);
