-- MagentaUsers: mail (issue 22; docs/registration.md "Mail").
--
-- A mail is never sent inside an HTTP request.  The registration service
-- writes the one-time token (hashed) and the mail request in the same
-- transaction as the change that causes it; magenta-mailer delivers the
-- queue over SMTP, retries with backoff and marks each row sent.

-- One-time tokens sent by mail: a confirmation of email (that address) or
-- a password reset.  Only the hash of the token is kept here (a
-- crypto_generichash of the token text): a lookup by hash finds it, and a
-- copy of this table lets nobody confirm or reset.  Spent once (used_at).
CREATE TABLE email_tokens (
    id         bigserial   PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('confirm', 'reset')),
    email      text        NOT NULL,  -- the address it was sent to
    token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- The mail queue.  params: what the template needs ({"token", "username",
-- "validMinutes"}); the token text is here only until the mail is sent
-- (the mailer removes it when it marks the row sent).  A user deleted
-- takes its unsent mail with it.
CREATE TABLE mail_outbox (
    id              bigserial   PRIMARY KEY,
    template        text        NOT NULL CHECK (template IN ('confirm-email', 'password-reset')),
    recipient       text        NOT NULL,
    token_id        bigint      REFERENCES email_tokens (id) ON DELETE CASCADE,
    params          jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX mail_outbox_unsent ON mail_outbox (id) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_token ON mail_outbox (token_id);

-- Wake the mailer at commit (LISTEN magenta_mail); it polls as well.
CREATE FUNCTION mail_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('magenta_mail', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER mail_outbox_notify AFTER INSERT ON mail_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION mail_outbox_notify();

-- Fixed-window counters of the mail endpoints: key is "resend:<user>",
-- "forgot-address:<email>" or "forgot-client:<address>"; count requests
-- since window_start (mail_rate_window).
CREATE TABLE mail_rate_limits (
    key          text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL CHECK (count >= 1)
);
CREATE INDEX mail_rate_limits_window ON mail_rate_limits (window_start);
