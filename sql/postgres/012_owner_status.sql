-- The active-jobs quota counts a user's queued and running calculations on
-- every submit (src/http/handlers/calculations.c, qf__check_active_quota):
-- with only (owner_id) or (status, ...) to go on, that count read every
-- queued row of every user. (owner_id, status) answers it from the index
-- and still serves every lookup by owner alone.
DROP INDEX calculations_owner;
CREATE INDEX calculations_owner ON calculations (owner_id, status);
