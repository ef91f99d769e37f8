-- MagentaAuthentication: OAuth 2.0 clients (issue 18).
--
-- A client is an application that asks /oauth2/token for tokens on a
-- user's behalf (RFC 6749 section 2).  Confidential clients authenticate
-- with a secret (client_secret_basic or client_secret_post); only its
-- SHA-256 is stored (the secret is 32 random bytes, so a fast hash is as
-- good as a slow one).  Public clients (secret_hash NULL) cannot keep a
-- secret and are identified by client_id alone.  Clients are made and
-- removed by `magentactl client`.
--
-- A session opened through /oauth2/token belongs to its client
-- (sessions.client_id) and keeps the scope it was granted; sessions of the
-- JSON login (/api/auth/login) have neither.  There is no foreign key, as
-- for user_id: removing a client revokes its sessions in the same
-- transaction (trigger oauth_clients_revoke_sessions), so its refresh
-- tokens fail from that commit on.

CREATE TABLE oauth_clients (
    client_id   text        PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9_-]{16,64}$'),
    name        text        NOT NULL UNIQUE
                            CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$'),
    secret_hash bytea       CHECK (octet_length(secret_hash) = 32),
    -- the scopes it may be granted, and is granted when it asks for none
    scopes      text[]      NOT NULL DEFAULT '{openid,profile,email}'
                            CHECK (scopes <@ '{openid,profile,email}'::text[]),
    -- the grants it may use at /oauth2/token; none: a resource server that
    -- only introspects
    grants      text[]      NOT NULL DEFAULT '{password,refresh_token}'
                            CHECK (grants <@ '{password,refresh_token}'::text[]),
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE sessions
    ADD COLUMN client_id text,
    ADD COLUMN scope     text[] CHECK (scope <@ '{openid,profile,email}'::text[]),
    ADD CONSTRAINT sessions_client_scope CHECK ((client_id IS NULL) = (scope IS NULL));
CREATE INDEX sessions_client_id ON sessions (client_id) WHERE client_id IS NOT NULL;

ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'password_changed', 'locked',
                              'user_deleted', 'revoked', 'client_removed'));

CREATE FUNCTION oauth_client_revoke_sessions() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE sessions SET revoked_at = now(), revoked_reason = 'client_removed'
     WHERE client_id = OLD.client_id AND revoked_at IS NULL;
    RETURN OLD;
END
$fn$;

CREATE TRIGGER oauth_clients_revoke_sessions AFTER DELETE ON oauth_clients FOR EACH ROW
    EXECUTE FUNCTION oauth_client_revoke_sessions();
