-- The consumer's bookkeeping in MagentaAuthentication (docs/events.md).

-- One row per event id ever handled, written in the same transaction as
-- the change it caused: the audit trail and the duplicate filter.
--   applied    the event changed auth_users
--   stale      a newer version of the user was already stored (or the
--              user is deleted: deletion is final), nothing changed
--   duplicate  another event with the same user and version was applied
--              already, nothing changed
-- A later delivery of the same event id only counts in redeliveries.
CREATE TABLE processed_events (
    event_id            uuid        PRIMARY KEY,
    event_type          text        NOT NULL
                        CHECK (event_type IN ('UserCreated', 'UserUpdated', 'UserDeleted')),
    user_id             uuid        NOT NULL,
    version             bigint      NOT NULL CHECK (version >= 1),
    occurred_at         timestamptz NOT NULL,
    processed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome             text        NOT NULL
                        CHECK (outcome IN ('applied', 'stale', 'duplicate')),
    redeliveries        integer     NOT NULL DEFAULT 0,
    last_redelivered_at timestamptz
);

CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
CREATE INDEX processed_events_user ON processed_events (user_id, version);

-- Valid events that cannot be applied yet because their username or email
-- is still held by another live user in this database: the other user's
-- own change (rename or delete) has not arrived yet.  MagentaUsers never
-- lets two users hold a name at once, so the holder's freeing event is on
-- its way; when it is applied, the parked events it blocked are applied
-- (see apply_user_event).  Parked events are acknowledged to RabbitMQ: they
-- are safe here, and are never dead-lettered.
CREATE TABLE parked_events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL CHECK (event_type IN ('UserCreated', 'UserUpdated')),
    user_id         uuid        NOT NULL,
    version         bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    username        text        NOT NULL,
    email           text        NOT NULL,
    password_hash   text        NOT NULL,
    security_stamp  text        NOT NULL,
    email_confirmed boolean     NOT NULL,
    lockout_enabled boolean     NOT NULL,
    lockout_end     timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    blocked_by      uuid        NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX parked_events_blocked_by ON parked_events (blocked_by);
CREATE INDEX parked_events_user ON parked_events (user_id);

-- Why the consumer rejected a message to the dead-letter queue, keyed by
-- the SHA-256 of its body (poison may carry no usable id); read by
-- `magentactl dlq list`.  Never holds the body itself.
CREATE TABLE rejected_messages (
    body_sha256 text        PRIMARY KEY CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
    message_id  text,
    reason      text        NOT NULL,
    detail      text,
    rejected_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    rejections  integer     NOT NULL DEFAULT 1
);
