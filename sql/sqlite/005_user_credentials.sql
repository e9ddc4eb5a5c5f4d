-- Credentials leave the users table. A user sees its own row and the rows
-- of everyone it shares an organisation with, and anyone may create an
-- organisation and add anyone to it: the password hash and TOTP secret of
-- any user were one membership away. They now live in user_credentials,
-- which only the system reads or writes (src/store/scope.c; on PostgreSQL
-- row-level security too). Same as sql/postgres/005_user_credentials.sql.
CREATE TABLE user_credentials (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash  TEXT,
    totp_secret    TEXT,
    updated_at     TEXT NOT NULL
);

INSERT INTO user_credentials (user_id, password_hash, totp_secret, updated_at)
SELECT id, password_hash, totp_secret, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM users WHERE password_hash IS NOT NULL OR totp_secret IS NOT NULL;

ALTER TABLE users DROP COLUMN password_hash;
ALTER TABLE users DROP COLUMN totp_secret;
