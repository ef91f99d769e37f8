-- MagentaAuthentication: trusted devices (issue 15, OWASP "device
-- cookies").  A successful login gives its client a device token: 32
-- random bytes, of which only the SHA-256 is kept here.  A login that
-- presents a live token of its user is judged by this row's own failure
-- count and lock, not by the account's (login_lockouts), which an attacker
-- without the token can fill.  Each success replaces the token presented.
--
-- security_stamp: the user's at issue; a password change (new stamp)
-- makes every older token count for nothing.  No foreign key to
-- auth_users, as for sessions: that table belongs to the event consumer.
CREATE TABLE login_devices (
    token_hash     bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id        uuid        NOT NULL,
    security_stamp text        NOT NULL,
    -- as in login_lockouts: failures since the last success or lock, and
    -- the locks so far (each doubles the next window)
    failures       integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locks          integer     NOT NULL DEFAULT 0 CHECK (locks >= 0),
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);

-- a user's devices, newest first (the cap on their number)
CREATE INDEX login_devices_user ON login_devices (user_id, created_at);
CREATE INDEX login_devices_expires_at ON login_devices (expires_at);
