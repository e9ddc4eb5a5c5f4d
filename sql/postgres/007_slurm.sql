-- Where each attempt ran when Slurm started its worker (qforge slurm
-- submit): so that failures on one bad node, or of one array, can be found.
-- Same columns as sql/sqlite/007_slurm.sql.
--   slurm_job_id         the job array's id (SLURM_ARRAY_JOB_ID), or the job's
--                        own (SLURM_JOB_ID) when the worker was no array task
--   slurm_array_task_id  the array task (SLURM_ARRAY_TASK_ID): squeue and
--                        sacct call the task <slurm_job_id>_<slurm_array_task_id>
--   slurm_node           the node (SLURMD_NODENAME)
-- All NULL when the worker did not run under Slurm. Both indexes are partial:
-- attempts outside Slurm cost nothing.
--
-- Security: nothing changes. Row-level security is per row (the table's
-- policies of 002 cover the new columns), and qforge_app's table-wide
-- SELECT, INSERT, UPDATE, DELETE (002) extend to columns added later.
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_job_id bigint;
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_array_task_id integer;
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_node text;
CREATE INDEX cem_slurm_job
    ON calculation_execution_metrics (slurm_job_id, slurm_array_task_id)
    WHERE slurm_job_id IS NOT NULL;
CREATE INDEX cem_slurm_node
    ON calculation_execution_metrics (slurm_node)
    WHERE slurm_node IS NOT NULL;
