-- MagentaAuthentication: the users as the authentication service knows
-- them, maintained only by magenta-consumer from the registration events.

CREATE TABLE auth_users (
    id              uuid        PRIMARY KEY,
    username        text        NOT NULL,
    email           text        NOT NULL,
    password_hash   text        NOT NULL,
    security_stamp  text        NOT NULL,
    email_confirmed boolean     NOT NULL DEFAULT false,
    lockout_enabled boolean     NOT NULL DEFAULT true,
    lockout_end     timestamptz,
    -- the version of the last event applied: only a newer one changes the row
    version         bigint      NOT NULL CHECK (version >= 1),
    -- tombstone: a deleted user keeps its row so a late event cannot revive it
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Unique case-insensitively among live users only.
CREATE UNIQUE INDEX auth_users_username_key ON auth_users (lower(username))
    WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX auth_users_email_key ON auth_users (lower(email))
    WHERE deleted_at IS NULL;
