-- SUPERSEDED in part: apply_user_event, apply_user_event_one and
-- retry_parked_events are replaced by 019_request_id.sql (read that one);
-- the rest stays.  This file stays as it was applied.
--
-- MagentaAuthentication: the account lifecycle (issue 16).
--
-- 1. Users carry their display name and roles (events' data.displayName
--    and data.roles, both optional in schema version 1: absent is none);
--    roles go into access tokens.  apply_user_event and
--    apply_user_event_one take them as two more parameters, with defaults,
--    so a call with the 14 of before still works; the bodies are 016's
--    and 014's with the two columns written where the others are, and a
--    deletion's tombstone now keeps no personal data.
-- 2. The events that end a user's sessions end them in the transaction
--    that applies them (trigger auth_users_revoke_sessions): a new
--    security stamp (password change or reset), an administrator's lock,
--    a deletion.  Their refresh tokens fail from that commit on, and
--    /api/auth/me refuses their access tokens (it checks the session).
--    A deletion also forgets the user's trusted devices.

ALTER TABLE auth_users
    ADD COLUMN display_name text,
    ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
ALTER TABLE parked_events
    ADD COLUMN display_name text,
    ADD COLUMN roles text[] NOT NULL DEFAULT '{}';

ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'password_changed', 'locked',
                              'user_deleted', 'revoked'));

DROP FUNCTION retry_parked_events();
DROP FUNCTION apply_user_event(uuid, text, uuid, bigint, timestamptz, text, text, text, text,
    boolean, boolean, timestamptz, timestamptz, timestamptz);
DROP FUNCTION apply_user_event_one(uuid, text, uuid, bigint, timestamptz, text, text, text, text,
    boolean, boolean, timestamptz, timestamptz, timestamptz);

CREATE FUNCTION apply_user_event_one(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz,
    p_display_name text DEFAULT NULL, p_roles text[] DEFAULT '{}')
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
                display_name, roles)
            VALUES (p_event_id, p_event_type, p_user_id, p_version, p_occurred_at,
                p_username, p_email, p_password_hash, p_security_stamp, p_email_confirmed,
                p_lockout_enabled, p_lockout_end, p_created_at, p_updated_at, blocker,
                p_display_name, coalesce(p_roles, '{}'))
            ON CONFLICT (event_id) DO NOTHING;
            RETURN 'parked';
        END IF;
        verdict := 'applied';
    END IF;

    INSERT INTO processed_events (event_id, event_type, user_id, version, occurred_at, outcome)
    VALUES (p_event_id, p_event_type, p_user_id, p_version, p_occurred_at, verdict);

    RETURN verdict;
END
$fn$;

CREATE FUNCTION apply_user_event(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz,
    p_display_name text DEFAULT NULL, p_roles text[] DEFAULT '{}')
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
        p_display_name, p_roles);
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
                    p.updated_at, p.display_name, p.roles) = 'applied' THEN
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
                p.display_name, p.roles) <> 'parked' THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$fn$;

-- Why a change of the row ends the user's sessions; NULL when it does not.
CREATE FUNCTION auth_user_revoke_reason(o auth_users, n auth_users)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'user_deleted'
        WHEN n.security_stamp IS DISTINCT FROM o.security_stamp THEN 'password_changed'
        WHEN n.lockout_enabled AND n.lockout_end IS NOT NULL
             AND n.lockout_end IS DISTINCT FROM o.lockout_end THEN 'locked'
    END
$fn$;

CREATE FUNCTION auth_user_revoke_sessions() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    why text := auth_user_revoke_reason(OLD, NEW);
BEGIN
    -- a lock that has already ended (an unlock written as a past time)
    -- ends nothing
    IF why = 'locked' AND NEW.lockout_end <= now() THEN
        RETURN NULL;
    END IF;
    UPDATE sessions SET revoked_at = now(), revoked_reason = why
     WHERE user_id = NEW.id AND revoked_at IS NULL;
    IF why = 'user_deleted' THEN
        DELETE FROM login_devices WHERE user_id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER auth_users_revoke_sessions AFTER UPDATE ON auth_users FOR EACH ROW
    WHEN (auth_user_revoke_reason(OLD, NEW) IS NOT NULL)
    EXECUTE FUNCTION auth_user_revoke_sessions();
