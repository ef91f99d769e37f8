-- MagentaAuthentication: change notices for the magenta-auth processes
-- (issue 4).  Each process remembers for a few seconds the sessions it
-- found alive, so GET /api/auth/me needs no query; these triggers tell
-- every process at once when such an answer stops being true: a session
-- revoked, shortened or deleted; a user deleted, locked, given a new
-- security stamp (password change) or new profile fields.
--
-- Channel magenta_auth; payload 's:' || session id, 'u:' || user id, or
-- '*' (forget everything: a table was truncated).

CREATE FUNCTION auth_notify_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('magenta_auth', 's:' || OLD.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION auth_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('magenta_auth', 'u:' || OLD.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION auth_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('magenta_auth', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN ((OLD.revoked_at, OLD.expires_at, OLD.user_id, OLD.security_stamp)
          IS DISTINCT FROM (NEW.revoked_at, NEW.expires_at, NEW.user_id, NEW.security_stamp))
    EXECUTE FUNCTION auth_notify_session();
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions FOR EACH ROW
    EXECUTE FUNCTION auth_notify_session();
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions FOR EACH STATEMENT
    EXECUTE FUNCTION auth_notify_all();

-- Inserts need no notice: nothing can be remembered about a new user.
CREATE TRIGGER auth_users_notify_update AFTER UPDATE ON auth_users FOR EACH ROW
    WHEN ((OLD.id, OLD.username, OLD.email, OLD.email_confirmed, OLD.security_stamp,
           OLD.lockout_enabled, OLD.lockout_end, OLD.deleted_at, OLD.created_at)
          IS DISTINCT FROM
          (NEW.id, NEW.username, NEW.email, NEW.email_confirmed, NEW.security_stamp,
           NEW.lockout_enabled, NEW.lockout_end, NEW.deleted_at, NEW.created_at))
    EXECUTE FUNCTION auth_notify_user();
CREATE TRIGGER auth_users_notify_delete AFTER DELETE ON auth_users FOR EACH ROW
    EXECUTE FUNCTION auth_notify_user();
CREATE TRIGGER auth_users_notify_truncate AFTER TRUNCATE ON auth_users FOR EACH STATEMENT
    EXECUTE FUNCTION auth_notify_all();
