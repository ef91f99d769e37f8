-- SUPERSEDED in part: apply_user_event and retry_parked_events below are
-- replaced by later migrations; their live definitions (and
-- apply_user_event_one's) are in 017_account_lifecycle.sql (read that
-- one).  auth_user_holding here is still the live one.
-- This file stays as it was applied, for installations that replay it.
--
-- apply_user_event: the consumer's whole decision for one event, in one
-- round trip (the consumer pipelines many calls into one transaction).
-- Events carry the user's full state, so order does not matter:
--   * an event id seen before only bumps processed_events.redeliveries;
--   * an event whose version is not above the stored one changes nothing
--     (outcome stale or duplicate); a deleted user stays deleted;
--   * an update before its create inserts the user from its full state;
--   * a delete leaves a tombstone (secrets wiped) so late events find it;
--   * a create/update whose username or email is held by another live user
--     is parked (see parked_events), and applied when the holder changes.
-- Returns applied | stale | duplicate | redelivered | parked.
-- The live user other than p_user_id that holds p_username or p_email,
-- or NULL.  FOR SHARE waits for a concurrent change of that user (another
-- consumer applying its rename) and re-checks it, so nobody parks behind a
-- view that is already out of date.  Dynamic SQL on purpose: a cached
-- generic plan made while auth_users was empty (a fresh install) reads the
-- whole partial index instead of looking the name up; EXECUTE plans each
-- lookup for the table as it is.  Only called when a name can collide.
CREATE FUNCTION auth_user_holding(p_user_id uuid, p_username text, p_email text)
RETURNS uuid
LANGUAGE plpgsql
AS $fn$
DECLARE
    holder uuid;
BEGIN
    EXECUTE 'SELECT id FROM auth_users WHERE lower(username) = lower($1)'
            ' AND deleted_at IS NULL AND id <> $2 FOR SHARE'
       INTO holder USING p_username, p_user_id;
    IF holder IS NULL THEN
        EXECUTE 'SELECT id FROM auth_users WHERE lower(email) = lower($1)'
                ' AND deleted_at IS NULL AND id <> $2 FOR SHARE'
           INTO holder USING p_email, p_user_id;
    END IF;
    RETURN holder;
END
$fn$;

CREATE FUNCTION apply_user_event(
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
    p            record;
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

    IF verdict = 'applied' THEN
        -- what this change may have unblocked, and this user's own parked
        -- events (now stale or applicable); each is taken out before it is
        -- tried, so a nested call never handles it twice
        FOR p IN SELECT * FROM parked_events
                  WHERE blocked_by = p_user_id OR user_id = p_user_id
                  ORDER BY parked_at
        LOOP
            DELETE FROM parked_events WHERE event_id = p.event_id;
            CONTINUE WHEN NOT FOUND;
            PERFORM apply_user_event(p.event_id, p.event_type, p.user_id, p.version,
                p.occurred_at, p.username, p.email, p.password_hash, p.security_stamp,
                p.email_confirmed, p.lockout_enabled, p.lockout_end, p.created_at,
                p.updated_at);
        END LOOP;
    END IF;
    RETURN verdict;
END
$fn$;

-- Try every parked event again (the consumer's periodic sweep, and a
-- safety net for races between several consumers).  Returns how many left
-- the parking.
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
                p.lockout_enabled, p.lockout_end, p.created_at, p.updated_at) <> 'parked' THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$fn$;
