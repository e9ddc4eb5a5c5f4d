-- Credentials leave the users table. A user sees its own row and the rows
-- of everyone it shares an organisation with, and anyone may create an
-- organisation and add anyone to it: the password hash and TOTP secret of
-- any user were one membership away. They now live in user_credentials,
-- which only the system reads or writes (src/store/scope.c, and the
-- policies below: not even a platform administrator reads them). Same as
-- sql/sqlite/005_user_credentials.sql.
CREATE TABLE user_credentials (
    user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash  text,
    totp_secret    text,
    updated_at     timestamptz NOT NULL
);

INSERT INTO user_credentials (user_id, password_hash, totp_secret, updated_at)
SELECT id, password_hash, totp_secret, now()
FROM users WHERE password_hash IS NOT NULL OR totp_secret IS NOT NULL;

ALTER TABLE users DROP COLUMN password_hash, DROP COLUMN totp_secret;

ALTER TABLE user_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY user_credentials_select ON user_credentials FOR SELECT USING (qf_is_system());
CREATE POLICY user_credentials_insert ON user_credentials FOR INSERT WITH CHECK (qf_is_system());
CREATE POLICY user_credentials_update ON user_credentials FOR UPDATE
    USING (qf_is_system()) WITH CHECK (qf_is_system());
CREATE POLICY user_credentials_delete ON user_credentials FOR DELETE USING (qf_is_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON user_credentials TO qforge_app;
