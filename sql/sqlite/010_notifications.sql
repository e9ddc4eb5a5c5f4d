-- Notifications (issue 11): the durable outbox that qforge serve's sender
-- drains, and the batch-completion preference. Same columns as
-- sql/postgres/010_notifications.sql (which documents them).

ALTER TABLE user_preferences
    ADD COLUMN notification_on_batch_completion INTEGER NOT NULL DEFAULT 0
    CHECK (notification_on_batch_completion IN (0, 1));

CREATE TABLE notification_outbox (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'slack')),
    event            TEXT NOT NULL CHECK (event IN ('calculation_completed', 'calculation_failed',
                                                    'batch_completed', 'test')),
    subject_id       TEXT,
    payload          TEXT NOT NULL CHECK (json_valid(payload)),
    status           TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notification_outbox_user ON notification_outbox (user_id, created_at);
CREATE INDEX notification_outbox_created ON notification_outbox (created_at);
CREATE INDEX notification_outbox_status ON notification_outbox (status);
-- the listing's filters (GET /api/v1/notifications?event=&channel=)
CREATE INDEX notification_outbox_event ON notification_outbox (event);
CREATE INDEX notification_outbox_channel ON notification_outbox (channel);
