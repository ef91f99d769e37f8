-- MagentaAuthentication: sessions and their refresh tokens (issue 4).
--
-- A session is one login: it lives at most until expires_at (session_max
-- after the login), however often it is refreshed, and ends early when
-- revoked (logout, refresh token reuse).  Its refresh tokens form a chain:
-- each rotation marks the presented token used and inserts its successor
-- with parent_id pointing back.  No raw token is stored: token_hash is the
-- SHA-256 of the 32 random bytes, and sealed is the token encrypted under
-- a key derived from its parent's raw bytes (so that a client that lost a
-- refresh response can get it again within the grace period, and nobody
-- reading this table can).
--
-- user_id has no foreign key to auth_users: that table belongs to the event
-- consumer; the live-user check is a join at use.

CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL,
    -- the user's security stamp at login: a password change (new stamp,
    -- arriving by event) ends every older session
    security_stamp text        NOT NULL,
    remember       boolean     NOT NULL DEFAULT false,
    client_addr    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text        CHECK (revoked_reason IN ('logout', 'refresh_reuse')),
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- the token this one replaced; unique: a token is rotated at most once
    parent_id  bigint      UNIQUE REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    token_hash bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- nonce || secretbox(raw token) under KDF(parent's raw token)
    sealed     bytea       CHECK (octet_length(sealed) = 72),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK ((parent_id IS NULL) OR (sealed IS NOT NULL))
);

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
