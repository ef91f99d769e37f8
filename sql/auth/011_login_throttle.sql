-- MagentaAuthentication: brute-force protection state (issue 4), shared by
-- every magenta-auth process on every host.

-- Per account: consecutive failures since the last success or lock; each
-- lock doubles the next window (lockout_base * 2^(locks-1), at most
-- lockout_max).  A successful login deletes the row.
CREATE TABLE login_lockouts (
    user_id      uuid        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locks        integer     NOT NULL DEFAULT 0 CHECK (locks >= 0),
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Per client address (IPv6: per /64): failed logins in the current
-- one-minute window.  Unlogged: losing these counters in a crash is
-- harmless, and they change on every failed login.
CREATE UNLOGGED TABLE login_address_failures (
    address      text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer     NOT NULL CHECK (failures >= 0)
);

CREATE INDEX login_address_failures_window ON login_address_failures (window_start);
