-- MagentaUsers: the account lifecycle (issue 16; docs/registration.md).

-- Roles: only 'admin' exists (lib/roles.h).  Granted by an operator
-- (magentactl user grant-admin), never through HTTP; carried in events
-- (data.roles) and in access tokens (roles).
ALTER TABLE users ADD COLUMN roles text[] NOT NULL DEFAULT '{}'
    CHECK (roles <@ ARRAY['admin']::text[]);

-- A deleted user's row leaves users at once (its username and email are
-- free again: the consumer parks a new holder's event until the deletion
-- before it is applied, docs/events.md), and its personal data with it.
-- What stays is this tombstone: the id and the version of its UserDeleted
-- event, so that magentactl resync can tell the authentication database
-- again, and audit: who deleted it.
CREATE TABLE deleted_users (
    id         uuid        PRIMARY KEY,
    version    bigint      NOT NULL CHECK (version >= 2),
    deleted_at timestamptz NOT NULL DEFAULT now(),
    deleted_by uuid,       -- the user itself or an admin; NULL: an operator
    reason     text        NOT NULL CHECK (reason IN ('self', 'admin', 'operator'))
);
CREATE INDEX deleted_users_deleted_at ON deleted_users (deleted_at);

-- Wrong current passwords given to the re-authenticating endpoints
-- (profile change of username or email, password change, deletion): a
-- stolen access token must not become a way to guess the password.
-- After reauth_limit failures within reauth_window seconds, those
-- endpoints answer 429 until the window has passed.
CREATE TABLE reauth_failures (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures      integer     NOT NULL CHECK (failures >= 1),
    first_at      timestamptz NOT NULL,
    last_at       timestamptz NOT NULL
);

-- The admin search: prefixes of the username (case-insensitively) and of
-- the email, in id order (keyset pagination: id > after).
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);
CREATE INDEX users_email_prefix ON users (email text_pattern_ops);
CREATE INDEX users_updated_at ON users (updated_at);
