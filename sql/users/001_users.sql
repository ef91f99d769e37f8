-- MagentaUsers: the registration service's own data.
-- Identity lives here; the authentication service gets it through events.

CREATE TABLE users (
    id              uuid        PRIMARY KEY,
    username        text        NOT NULL
                    CHECK (char_length(username) BETWEEN 3 AND 50
                           AND username ~ '^[A-Za-z0-9_-]+$'),
    email           text        NOT NULL
                    CHECK (email = lower(email) AND octet_length(email) <= 254),
    password_hash   text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    security_stamp  text        NOT NULL,
    email_confirmed boolean     NOT NULL DEFAULT false,
    lockout_enabled boolean     NOT NULL DEFAULT true,
    lockout_end     timestamptz,
    display_name    text        CHECK (char_length(display_name) <= 100),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         bigint      NOT NULL DEFAULT 1 CHECK (version >= 1)
);

-- Unique case-insensitively (emails are stored lower-cased).
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Transactional outbox: one row per event, written in the same transaction
-- as the change it describes; magenta-relay publishes it to RabbitMQ.
CREATE TABLE outbox (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          uuid        NOT NULL UNIQUE,
    aggregate_id      uuid        NOT NULL,
    aggregate_version bigint      NOT NULL,
    event_type        text        NOT NULL
                      CHECK (event_type IN ('UserCreated', 'UserUpdated', 'UserDeleted')),
    routing_key       text        NOT NULL
                      CHECK (routing_key IN ('user.created', 'user.updated', 'user.deleted')),
    payload           jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    published_at      timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text,
    next_attempt_at   timestamptz
);

-- The relay's work list: only unpublished rows, in insertion order.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
