-- The queue (src/store/queue.c): what a submitted calculation keeps so that
-- any worker, on any attempt, runs exactly what was asked ("inputs are never
-- consumed"), what reuse of identical work looks up, and the per-batch
-- counters that keep batch_job_performance up to date one finished job at a
-- time. Same columns as sql/sqlite/004_queue.sql.

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
ALTER TABLE calculations
    ADD COLUMN spec_key text,
    ADD COLUMN input_text text,
    ADD COLUMN input_format text,
    ADD COLUMN input_source text,
    ADD COLUMN input_record integer,
    ADD COLUMN resume_coordinates jsonb,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN last_worker text;

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
ALTER TABLE calculation_execution_metrics ADD COLUMN started_at timestamptz;

-- batch_job_performance: the sums behind the averages, so that a finished
-- job updates them without reading the batch again.
--   workers               distinct worker slots that ran attempts of the batch
--   timed_attempts        attempts that ran (their wall time is known)
--   job_time_sum_seconds  their wall times, summed
--   memory_sum_mb         their peak memory, summed
ALTER TABLE batch_job_performance
    ADD COLUMN workers integer NOT NULL DEFAULT 0,
    ADD COLUMN timed_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN job_time_sum_seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN memory_sum_mb double precision NOT NULL DEFAULT 0;

-- The worker slots that ran attempts of a batch (one row each): a finished
-- attempt from a slot not yet here adds one to batch_job_performance.workers.
CREATE TABLE batch_workers (
    batch_id     uuid NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    worker       text NOT NULL,
    owner_id     uuid NOT NULL REFERENCES users (id),
    org_id       uuid REFERENCES organisations (id) ON DELETE CASCADE,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (batch_id, worker)
);
CREATE INDEX batch_workers_owner ON batch_workers (owner_id);
CREATE INDEX batch_workers_org ON batch_workers (org_id);

-- Row-level security for batch_workers, as for the other owned tables
-- (002_security.sql): a row may only name a batch the caller can see.
ALTER TABLE batch_workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE batch_workers FORCE ROW LEVEL SECURITY;
CREATE POLICY batch_workers_select ON batch_workers FOR SELECT
    USING (qf_can_read(owner_id, org_id));
CREATE POLICY batch_workers_insert ON batch_workers FOR INSERT
    WITH CHECK (qf_can_insert(owner_id, org_id)
                AND EXISTS (SELECT 1 FROM batches p WHERE p.id = batch_workers.batch_id));
CREATE POLICY batch_workers_update ON batch_workers FOR UPDATE
    USING (qf_can_modify(owner_id, org_id))
    WITH CHECK (qf_can_modify(owner_id, org_id)
                AND EXISTS (SELECT 1 FROM batches p WHERE p.id = batch_workers.batch_id));
CREATE POLICY batch_workers_delete ON batch_workers FOR DELETE
    USING (qf_can_modify(owner_id, org_id));

GRANT SELECT, INSERT, UPDATE, DELETE ON batch_workers TO qforge_app;
