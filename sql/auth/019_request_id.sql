-- MagentaAuthentication: correlation (issue 20; docs/operations.md
-- "Correlation and trace").
--
-- The request id an event's AMQP message carried (correlation_id, or the
-- x-request-id header: the X-Request-Id of the HTTP request that caused
-- it) is kept with what became of the event: processed_events, a parked
-- event (and so the processed_events row it gets when it is applied at
-- last), a rejected message.  It is a label, not part of the signed event:
-- nothing is decided by it.  NULL when the message carried none.
--
-- apply_user_event and apply_user_event_one take it as one more, last,
-- parameter with a default, so the calls of before (16 parameters, or
-- 14) still work; the bodies are 017's with the column written.

ALTER TABLE processed_events ADD COLUMN request_id text
    CHECK (char_length(request_id) BETWEEN 1 AND 128);
ALTER TABLE parked_events ADD COLUMN request_id text
    CHECK (char_length(request_id) BETWEEN 1 AND 128);
ALTER TABLE rejected_messages ADD COLUMN request_id text
    CHECK (char_length(request_id) BETWEEN 1 AND 128);

-- magentactl trace REQUEST_ID
CREATE INDEX processed_events_request_id ON processed_events (request_id)
    WHERE request_id IS NOT NULL;

DROP FUNCTION retry_parked_events();
DROP FUNCTION apply_user_event(uuid, text, uuid, bigint, timestamptz, text, text, text, text,
    boolean, boolean, timestamptz, timestamptz, timestamptz, text, text[]);
DROP FUNCTION apply_user_event_one(uuid, text, uuid, bigint, timestamptz, text, text, text, text,
    boolean, boolean, timestamptz, timestamptz, timestamptz, text, text[]);

CREATE FUNCTION apply_user_event_one(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz,
    p_display_name text DEFAULT NULL, p_roles text[] DEFAULT '{}',
    p_request_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
-- Every statement here is an equality on a primary key or unique index;
-- the cached generic plans must keep using them however small the tables
-- were when the session made them.
SET enable_seqscan = off
AS $fn$
DECLARE
    have_row     boolean;
    cur_version  bigint;
    cur_deleted  timestamptz;
    cur_username text;
    cur_email    text;
    blocker      uuid;
    verdict      text;
BEGIN
    UPDATE processed_events
       SET redeliveries = redeliveries + 1, last_redelivered_at = clock_timestamp()
     WHERE event_id = p_event_id;
    IF FOUND THEN
        RETURN 'redelivered'; -- its row keeps what its first delivery did
    END IF;
    IF EXISTS (SELECT 1 FROM parked_events WHERE event_id = p_event_id) THEN
        RETURN 'parked';
    END IF;

    SELECT version, deleted_at, username, email
      INTO cur_version, cur_deleted, cur_username, cur_email
      FROM auth_users WHERE id = p_user_id FOR UPDATE;
    have_row := FOUND;
    IF have_row THEN
        IF p_version < cur_version THEN
            verdict := 'stale';
        ELSIF p_version = cur_version THEN
            verdict := 'same_version'; -- another event id brought it
        ELSIF cur_deleted IS NOT NULL THEN
            verdict := 'stale'; -- deletion is final
        END IF;
    END IF;

    IF verdict IS NULL THEN
        IF p_event_type = 'UserDeleted' THEN
            IF have_row THEN
                -- the tombstone keeps no personal data
                UPDATE auth_users
                   SET version = p_version, deleted_at = p_occurred_at, password_hash = '',
                       security_stamp = '', updated_at = p_occurred_at, username = '',
                       email = '', display_name = NULL, roles = '{}'
                 WHERE id = p_user_id;
            ELSE
                INSERT INTO auth_users (id, username, email, password_hash, security_stamp,
                    email_confirmed, lockout_enabled, lockout_end, version, deleted_at,
                    created_at, updated_at)
                VALUES (p_user_id, '', '', '', '', false, false, NULL, p_version,
                    p_occurred_at, p_occurred_at, p_occurred_at);
            END IF;
        ELSIF have_row THEN
            -- only a new username or email can collide with another user
            IF lower(p_username) <> lower(cur_username) OR lower(p_email) <> lower(cur_email) THEN
                blocker := auth_user_holding(p_user_id, p_username, p_email);
            END IF;
            IF blocker IS NULL THEN
                UPDATE auth_users
                   SET username = p_username, email = p_email, password_hash = p_password_hash,
                       security_stamp = p_security_stamp, email_confirmed = p_email_confirmed,
                       lockout_enabled = p_lockout_enabled, lockout_end = p_lockout_end,
                       created_at = p_created_at, updated_at = p_updated_at, version = p_version,
                       display_name = p_display_name, roles = coalesce(p_roles, '{}')
                 WHERE id = p_user_id;
            END IF;
        ELSE
            -- the unique indexes decide; a conflict inserts nothing
            INSERT INTO auth_users (id, username, email, password_hash, security_stamp,
                email_confirmed, lockout_enabled, lockout_end, version, deleted_at,
                created_at, updated_at, display_name, roles)
            VALUES (p_user_id, p_username, p_email, p_password_hash, p_security_stamp,
                p_email_confirmed, p_lockout_enabled, p_lockout_end, p_version, NULL,
                p_created_at, p_updated_at, p_display_name, coalesce(p_roles, '{}'))
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                blocker := auth_user_holding(p_user_id, p_username, p_email);
                IF blocker IS NULL THEN
                    -- the conflict was on the id: another consumer inserted
                    -- this user meanwhile; the transaction is retried
                    RAISE EXCEPTION 'user % was inserted concurrently', p_user_id
                        USING ERRCODE = '40001';
                END IF;
            END IF;
        END IF;
        IF blocker IS NOT NULL THEN
            INSERT INTO parked_events (event_id, event_type, user_id, version, occurred_at,
                username, email, password_hash, security_stamp, email_confirmed,
                lockout_enabled, lockout_end, created_at, updated_at, blocked_by,
                display_name, roles, request_id)
            VALUES (p_event_id, p_event_type, p_user_id, p_version, p_occurred_at,
                p_username, p_email, p_password_hash, p_security_stamp, p_email_confirmed,
                p_lockout_enabled, p_lockout_end, p_created_at, p_updated_at, blocker,
                p_display_name, coalesce(p_roles, '{}'), p_request_id)
            ON CONFLICT (event_id) DO NOTHING;
            RETURN 'parked';
        END IF;
        verdict := 'applied';
    END IF;

    INSERT INTO processed_events (event_id, event_type, user_id, version, occurred_at, outcome,
        request_id)
    VALUES (p_event_id, p_event_type, p_user_id, p_version, p_occurred_at, verdict,
        p_request_id);

    RETURN verdict;
END
$fn$;

CREATE FUNCTION apply_user_event(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz,
    p_display_name text DEFAULT NULL, p_roles text[] DEFAULT '{}',
    p_request_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $fn$
DECLARE
    verdict text;
    todo    uuid[];
    u       uuid;
    p       record;
BEGIN
    verdict := apply_user_event_one(p_event_id, p_event_type, p_user_id, p_version,
        p_occurred_at, p_username, p_email, p_password_hash, p_security_stamp,
        p_email_confirmed, p_lockout_enabled, p_lockout_end, p_created_at, p_updated_at,
        p_display_name, p_roles, p_request_id);
    IF verdict <> 'applied' THEN
        RETURN verdict;
    END IF;
    -- users whose change may have unblocked parked events: the events
    -- waiting for their names, and their own parked events (now stale or
    -- applicable); every event applied adds its user.  Each application
    -- removes a parked row for good, so this ends.
    todo := ARRAY[p_user_id];
    WHILE cardinality(todo) > 0 LOOP
        u := todo[1];
        todo := todo[2:];
        FOR p IN SELECT * FROM parked_events
                  WHERE blocked_by = u OR user_id = u
                  ORDER BY parked_at
        LOOP
            DELETE FROM parked_events WHERE event_id = p.event_id;
            CONTINUE WHEN NOT FOUND;
            IF apply_user_event_one(p.event_id, p.event_type, p.user_id, p.version,
                    p.occurred_at, p.username, p.email, p.password_hash, p.security_stamp,
                    p.email_confirmed, p.lockout_enabled, p.lockout_end, p.created_at,
                    p.updated_at, p.display_name, p.roles, p.request_id) = 'applied' THEN
                todo := todo || p.user_id;
            END IF;
        END LOOP;
    END LOOP;
    RETURN verdict;
END
$fn$;

CREATE FUNCTION retry_parked_events()
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    p record;
    n integer := 0;
BEGIN
    FOR p IN SELECT * FROM parked_events ORDER BY parked_at LOOP
        DELETE FROM parked_events WHERE event_id = p.event_id;
        CONTINUE WHEN NOT FOUND;
        IF apply_user_event(p.event_id, p.event_type, p.user_id, p.version, p.occurred_at,
                p.username, p.email, p.password_hash, p.security_stamp, p.email_confirmed,
                p.lockout_enabled, p.lockout_end, p.created_at, p.updated_at,
                p.display_name, p.roles, p.request_id) <> 'parked' THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$fn$;
