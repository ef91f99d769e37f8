-- pgbench script for bench/auth.sh (run with -M prepared, as magenta-auth
-- prepares its statements): the statement of a refresh (sql_rotate
-- in fcgi/auth_session.c, keep the two alike), along one token chain per
-- client.  Token k of client c has the hash sha256('c-k'); bench/auth.sh
-- seeds token 0 of each client.  Variables: k (starts at 0), box (the
-- sealed successor, any 72 bytes), ttl, ttl_remember.
\set next :k + 1
WITH k AS MATERIALIZED ( SELECT t.id, t.session_id, s.expires_at AS session_end, s.remember,  u.id AS user_id, u.username, u.email FROM refresh_tokens t,  LATERAL (SELECT * FROM sessions WHERE id = t.session_id OFFSET 0) s,  LATERAL (SELECT * FROM auth_users WHERE id = s.user_id OFFSET 0) u WHERE t.token_hash = sha256(convert_to(:client_id || '-' || :k, 'UTF8')) AND t.used_at IS NULL AND t.expires_at > now()  AND s.revoked_at IS NULL AND s.expires_at > now() AND u.deleted_at IS NULL AND u.security_stamp = s.security_stamp AND NOT (u.lockout_enabled AND coalesce(u.lockout_end > now(), false))), old AS ( UPDATE refresh_tokens t SET used_at = now() FROM k WHERE t.id = (SELECT id FROM k) AND t.used_at IS NULL RETURNING k.id, k.session_id, k.session_end, k.remember, k.user_id, k.username,  k.email), new AS ( INSERT INTO refresh_tokens (session_id, parent_id, token_hash, sealed, expires_at) SELECT session_id, id, sha256(convert_to(:client_id || '-' || :next, 'UTF8')), :box::bytea, least(now() + make_interval(secs =>  CASE WHEN remember THEN :ttl_remember::int ELSE :ttl::int END), session_end) FROM old RETURNING expires_at) SELECT old.session_id, old.user_id, old.username, old.email,  ceil(extract(epoch FROM new.expires_at - now()))::bigint FROM old, new;
\set k :next
