-- MagentaAuthentication: an index for the clean-up of revoked sessions.
--
-- magenta-auth deletes sessions revoked or expired more than a day ago
-- (sql_gc in fcgi/auth_login.c, one login in 64).  expires_at has its
-- index; without one on revoked_at the OR of the two made every clean-up
-- a scan of the whole table.  Partial: most sessions are never revoked.

CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
