-- SUPERSEDED: the functions below are replaced by later migrations; the
-- live definitions of apply_user_event, apply_user_event_one and
-- retry_parked_events are in 017_account_lifecycle.sql (read that one).
-- This file stays as it was applied, for installations that replay it.
--
-- apply_user_event without recursion.
--
-- An event that unblocks parked ones used to apply each of them by
-- calling apply_user_event from inside itself, and what that one
-- unblocked went one call deeper.  A chain of a few hundred parked
-- renames, each waiting for the name the next one frees, so exceeded
-- PostgreSQL's max_stack_depth (SQLSTATE 54001): not the message's fault,
-- so the consumer retried it for ever and every event behind it waited.
--
-- Now apply_user_event_one makes the decision for one event (003's body
-- without its last loop), and apply_user_event applies what each
-- application unblocks from a work list, at one depth: the users whose
-- change may free a name, each in turn, and each parked event taken out
-- before it is tried, as before.  Same outcomes, in breadth-first order;
-- the consumer's sweep (retry_parked_events) still catches what a race
-- between consumers leaves parked.

CREATE FUNCTION apply_user_event_one(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz)
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
        RETURN 'redelivered';
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
            verdict := 'duplicate';
        ELSIF cur_deleted IS NOT NULL THEN
            verdict := 'stale'; -- deletion is final
        END IF;
    END IF;

    IF verdict IS NULL THEN
        IF p_event_type = 'UserDeleted' THEN
            IF have_row THEN
                UPDATE auth_users
                   SET version = p_version, deleted_at = p_occurred_at, password_hash = '',
                       security_stamp = '', updated_at = p_occurred_at
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
                       created_at = p_created_at, updated_at = p_updated_at, version = p_version
                 WHERE id = p_user_id;
            END IF;
        ELSE
            -- the unique indexes decide; a conflict inserts nothing
            INSERT INTO auth_users (id, username, email, password_hash, security_stamp,
                email_confirmed, lockout_enabled, lockout_end, version, deleted_at,
                created_at, updated_at)
            VALUES (p_user_id, p_username, p_email, p_password_hash, p_security_stamp,
                p_email_confirmed, p_lockout_enabled, p_lockout_end, p_version, NULL,
                p_created_at, p_updated_at)
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
                lockout_enabled, lockout_end, created_at, updated_at, blocked_by)
            VALUES (p_event_id, p_event_type, p_user_id, p_version, p_occurred_at,
                p_username, p_email, p_password_hash, p_security_stamp, p_email_confirmed,
                p_lockout_enabled, p_lockout_end, p_created_at, p_updated_at, blocker)
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

CREATE OR REPLACE FUNCTION apply_user_event(
    p_event_id uuid, p_event_type text, p_user_id uuid, p_version bigint,
    p_occurred_at timestamptz, p_username text, p_email text, p_password_hash text,
    p_security_stamp text, p_email_confirmed boolean, p_lockout_enabled boolean,
    p_lockout_end timestamptz, p_created_at timestamptz, p_updated_at timestamptz)
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
        p_email_confirmed, p_lockout_enabled, p_lockout_end, p_created_at, p_updated_at);
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
                    p.updated_at) = 'applied' THEN
                todo := todo || p.user_id;
            END IF;
        END LOOP;
    END LOOP;
    RETURN verdict;
END
$fn$;
