-- SUPERSEDED in part: the function below is replaced by a later migration
-- (the outcome renaming stays); the live definitions of apply_user_event, apply_user_event_one and
-- retry_parked_events are in 017_account_lifecycle.sql (read that one).
-- This file stays as it was applied, for installations that replay it.
--
-- Outcome names that say what happened (docs/events.md "Guarantees").
--
-- "duplicate" named an event whose version was already stored, brought by
-- another event id (magentactl resync writing a user's state again, or an
-- event whose own row was pruned after processed_events_retention_days).
-- It read as "delivered twice", and a chaos run counted redeliveries under
-- it; but an event id seen again is a redelivery: its row keeps what its
-- first delivery did (applied, stale, same_version) and only counts in
-- redeliveries, and apply_user_event returns 'redelivered'.  So:
--
--   processed_events.outcome   applied | stale | same_version
--   apply_user_event() returns  those, or redelivered | parked (no new row)
--
-- Existing rows are renamed; apply_user_event_one is 014's with the new
-- name (apply_user_event and retry_parked_events only compare with
-- 'applied' and 'parked', and stay as they are).

ALTER TABLE processed_events DROP CONSTRAINT processed_events_outcome_check;
UPDATE processed_events SET outcome = 'same_version' WHERE outcome = 'duplicate';
ALTER TABLE processed_events ADD CONSTRAINT processed_events_outcome_check
    CHECK (outcome IN ('applied', 'stale', 'same_version'));

CREATE OR REPLACE FUNCTION apply_user_event_one(
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
