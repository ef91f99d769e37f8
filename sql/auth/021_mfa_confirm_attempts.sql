-- MagentaAuthentication: a pending TOTP enrolment allows a few codes and
-- lives a few minutes (docs/auth.md, "Second factor").
--
-- confirm_attempts: the codes tried to confirm this secret, counted before
-- each is checked.  The fifth wrong one discards the enrolment, as does
-- an age of ten minutes (fcgi/auth_mfa.c, CONFIRM_ATTEMPTS, CONFIRM_TTL):
-- the user enrols again and gets a new secret.  A new enrolment starts
-- at 0.
ALTER TABLE mfa_totp
    ADD COLUMN confirm_attempts integer NOT NULL DEFAULT 0 CHECK (confirm_attempts >= 0);
