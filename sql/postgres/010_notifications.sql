-- Notifications (issue 11): the durable outbox that qforge serve's sender
-- drains, and the batch-completion preference. Same as
-- sql/sqlite/010_notifications.sql.

-- Notify when a batch of one's has finished (every job completed, failed or
-- cancelled). The jobs of a batch do not notify one by one: a batch of a
-- thousand molecules sends one message.
ALTER TABLE user_preferences
    ADD COLUMN notification_on_batch_completion boolean NOT NULL DEFAULT false;

-- One row per message to send, written in the transaction that records the
-- event (a job's finish, a batch settling; by workers too: writing a row is
-- not network I/O), following the user's preferences at that moment.
--   channel          email | slack
--   event            calculation_completed | calculation_failed |
--                    batch_completed | test (the settings page's test button)
--   subject_id       the calculation or batch (NULL for test)
--   payload          what the message says (name, method, energy, error...)
--   status           pending -> sending (claimed by a sender until
--                    next_attempt_at, its lease) -> sent | pending again
--                    (next_attempt_at: exponential backoff) | failed (final,
--                    also written to user_audit_log)
--   attempts         sends tried so far
--   last_error       why the last try failed, in the platform's words (never
--                    the receiver's answer body)
CREATE TABLE notification_outbox (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel          text NOT NULL CHECK (channel IN ('email', 'slack')),
    event            text NOT NULL CHECK (event IN ('calculation_completed', 'calculation_failed',
                                                    'batch_completed', 'test')),
    subject_id       uuid,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    sent_at          timestamptz
);
-- The sender's claim: due rows of the unfinished states.
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notification_outbox_user ON notification_outbox (user_id, created_at);
CREATE INDEX notification_outbox_created ON notification_outbox (created_at);
CREATE INDEX notification_outbox_status ON notification_outbox (status);
-- the listing's filters (GET /api/v1/notifications?event=&channel=)
CREATE INDEX notification_outbox_event ON notification_outbox (event);
CREATE INDEX notification_outbox_channel ON notification_outbox (channel);

-- A user reads its own notifications; only the platform (workers, the
-- sender) writes them: a user cannot make the server send something.
ALTER TABLE notification_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY notification_outbox_select ON notification_outbox FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR (qf_uid() IS NOT NULL AND user_id = qf_uid()));
CREATE POLICY notification_outbox_insert ON notification_outbox FOR INSERT
    WITH CHECK (qf_is_system());
CREATE POLICY notification_outbox_update ON notification_outbox FOR UPDATE
    USING (qf_is_system()) WITH CHECK (qf_is_system());
CREATE POLICY notification_outbox_delete ON notification_outbox FOR DELETE
    USING (qf_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_outbox TO qforge_app;
