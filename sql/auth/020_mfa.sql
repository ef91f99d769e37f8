-- MagentaAuthentication: the TOTP second factor (issue 22, RFC 6238).
--
-- Second factors are the auth service's own data, like sessions: they are
-- made and used only here, never travel in events, and MagentaUsers never
-- sees them (docs/auth.md, "Second factor").  No foreign keys to
-- auth_users (that table belongs to the event consumer); a user's rows go
-- when the user is deleted (trigger auth_users_drop_mfa below).

-- A user's TOTP secret: sealed with XChaCha20-Poly1305 under the key of
-- mfa_key_file, the user id as associated data.  confirmed_at NULL: an
-- enrolment waiting for its first code (not yet asked for at login).
-- last_used_step: the RFC 6238 time step of the last code accepted; a code
-- of that step or an earlier one is refused (single use).
CREATE TABLE mfa_totp (
    user_id        uuid        PRIMARY KEY,
    secret_sealed  bytea       NOT NULL CHECK (octet_length(secret_sealed) BETWEEN 41 AND 200),
    confirmed_at   timestamptz,
    last_used_step bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes, shown once at confirmation: only a keyed BLAKE2b hash
-- (bound to the user) is kept.  used_at: spent.
CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL,
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

-- The tickets of logins whose password was right and which wait for a
-- code: SHA-256 of 32 random bytes (a fast hash suits them, as refresh
-- tokens).  security_stamp: the user's at login (a password change in
-- between voids the ticket); device_hash: the trusted device token
-- presented at login, if any, so the session is made as the login would
-- have made it; attempts: codes tried with this ticket.
CREATE TABLE mfa_tickets (
    ticket_hash    bytea       PRIMARY KEY CHECK (octet_length(ticket_hash) = 32),
    user_id        uuid        NOT NULL,
    security_stamp text        NOT NULL,
    remember       boolean     NOT NULL DEFAULT false,
    device_hash    bytea       CHECK (octet_length(device_hash) = 32),
    attempts       integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX mfa_tickets_user ON mfa_tickets (user_id);
CREATE INDEX mfa_tickets_expires_at ON mfa_tickets (expires_at);

-- A deleted user (UserDeleted: deleted_at set, or a tombstone written
-- directly) keeps no second factor.
CREATE FUNCTION auth_users_drop_mfa() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mfa_totp WHERE user_id = NEW.id;
    DELETE FROM mfa_recovery_codes WHERE user_id = NEW.id;
    DELETE FROM mfa_tickets WHERE user_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER auth_users_drop_mfa
    AFTER INSERT OR UPDATE OF deleted_at ON auth_users
    FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION auth_users_drop_mfa();
