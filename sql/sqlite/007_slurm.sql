-- Where each attempt ran when Slurm started its worker (qforge slurm
-- submit): so that failures on one bad node, or of one array, can be found.
-- Same columns as sql/postgres/007_slurm.sql.
--   slurm_job_id         the job array's id (SLURM_ARRAY_JOB_ID), or the job's
--                        own (SLURM_JOB_ID) when the worker was no array task
--   slurm_array_task_id  the array task (SLURM_ARRAY_TASK_ID): squeue and
--                        sacct call the task <slurm_job_id>_<slurm_array_task_id>
--   slurm_node           the node (SLURMD_NODENAME)
-- All NULL when the worker did not run under Slurm. Both indexes are partial:
-- attempts outside Slurm cost nothing.
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_job_id INTEGER;
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_array_task_id INTEGER;
ALTER TABLE calculation_execution_metrics ADD COLUMN slurm_node TEXT;
CREATE INDEX cem_slurm_job
    ON calculation_execution_metrics (slurm_job_id, slurm_array_task_id)
    WHERE slurm_job_id IS NOT NULL;
CREATE INDEX cem_slurm_node
    ON calculation_execution_metrics (slurm_node)
    WHERE slurm_node IS NOT NULL;
