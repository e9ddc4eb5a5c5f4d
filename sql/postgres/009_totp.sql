-- Two-factor login: one-time passwords (TOTP, RFC 6238) and backup codes
-- (src/auth/totp.c, src/store/totp.c). Same as sql/sqlite/009_totp.sql.
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
ALTER TABLE user_credentials
    ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_confirmed_at timestamptz,
    ADD COLUMN totp_last_step bigint;

-- One-time backup codes, made at confirmation (shown once) and kept as the
-- SHA-256 of their normal form; a used one keeps its row with used_at.
CREATE TABLE user_backup_codes (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   text NOT NULL,
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Like user_credentials: the system's alone (not the user it is about, not
-- a platform administrator).
ALTER TABLE user_backup_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_backup_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY user_backup_codes_select ON user_backup_codes FOR SELECT USING (qf_is_system());
CREATE POLICY user_backup_codes_insert ON user_backup_codes FOR INSERT WITH CHECK (qf_is_system());
CREATE POLICY user_backup_codes_update ON user_backup_codes FOR UPDATE
    USING (qf_is_system()) WITH CHECK (qf_is_system());
CREATE POLICY user_backup_codes_delete ON user_backup_codes FOR DELETE USING (qf_is_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON user_backup_codes TO qforge_app;
