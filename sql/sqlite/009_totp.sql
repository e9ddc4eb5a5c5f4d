-- Two-factor login: one-time passwords (TOTP, RFC 6238) and backup codes
-- (src/auth/totp.c, src/store/totp.c). Same as sql/postgres/009_totp.sql.
--
-- user_credentials.totp_secret (005) holds the secret sealed by the server's
-- secret box (the key is a file of the server's, never in the database); it
-- is set at enrolment and counts only once confirmed with a code:
--   totp_enabled       the account needs a code to log in
--   totp_confirmed_at  when that began
--   totp_last_step     the step counter (unix time / 30) of the last code
--                      accepted: a code is accepted only for a later step,
--                      by one conditional UPDATE, so two requests with the
--                      same code cannot both pass
ALTER TABLE user_credentials ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_credentials ADD COLUMN totp_confirmed_at TEXT;
ALTER TABLE user_credentials ADD COLUMN totp_last_step INTEGER;

-- One-time backup codes, made at confirmation (shown once) and kept as the
-- SHA-256 of their normal form; a used one keeps its row with used_at.
CREATE TABLE user_backup_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (user_id, code_hash)
);
