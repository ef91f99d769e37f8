/* auth_session: POST /api/auth/refresh (rotation with reuse detection) and
 * POST /api/auth/logout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"

#define HASH_HEX (2 * REFRESH_HASHBYTES + 3)
#define SEAL_HEX (2 * REFRESH_SEALBYTES + 3)

/* $1 presented token's hash, $2 successor's hash, $3 successor sealed under
 * the presented token, $4 refresh_ttl, $5 refresh_ttl_remember, $6 the
 * OAuth client presenting it (NULL: the JSON surface; a token rotates only
 * for the client, or the surface, whose session it is).  The one
 * statement of a normal refresh: the UPDATE takes the presented token's
 * row lock, so of two concurrent refreshes with one token, the second
 * waits, then finds it used and rotates nothing.
 *
 * The token is looked up first, and its session and user through it, by
 * primary key (LATERAL ... OFFSET 0 keeps that order): left to choose, the
 * planner would sometimes start from the users instead (statistics of
 * nearly empty tables say "one live user") and probe the token once per
 * session of every user: 0.5 ms per refresh at 300 sessions and growing
 * with them.  The UPDATE finds its row by the id alone (a join with k
 * could become a scan of the whole primary key for the same reason).  k
 * is read before the lock; the UPDATE checks used_at again under it. */
static const char sql_rotate[] =
    "WITH k AS MATERIALIZED ("
    " SELECT t.id, t.session_id, s.expires_at AS session_end, s.remember, s.scope,"
    "  u.id AS user_id, u.username, u.email, u.roles, u.security_stamp"
    " FROM refresh_tokens t,"
    "  LATERAL (SELECT * FROM sessions WHERE id = t.session_id OFFSET 0) s,"
    "  LATERAL (SELECT * FROM auth_users WHERE id = s.user_id OFFSET 0) u"
    " WHERE t.token_hash = $1::bytea AND t.used_at IS NULL AND t.expires_at > now()"
    "  AND s.client_id IS NOT DISTINCT FROM $6 AND" AUTH_SESSION_LIVE "),"
    " old AS ("
    " UPDATE refresh_tokens t SET used_at = now() FROM k"
    " WHERE t.id = (SELECT id FROM k) AND t.used_at IS NULL"
    " RETURNING k.id, k.session_id, k.session_end, k.remember, k.scope, k.user_id,"
    "  k.username, k.email, k.roles, k.security_stamp),"
    " new AS ("
    " INSERT INTO refresh_tokens (session_id, parent_id, token_hash, sealed, expires_at)"
    " SELECT session_id, id, $2::bytea, $3::bytea, least(now() + make_interval(secs =>"
    "  CASE WHEN remember THEN $5::int ELSE $4::int END), session_end) FROM old"
    " RETURNING expires_at)"
    " SELECT old.session_id, old.user_id, old.username, old.email,"
    "  ceil(extract(epoch FROM new.expires_at - now()))::bigint, old.roles::text,"
    "  old.security_stamp, old.scope::text, old.remember FROM old, new";
static struct db_stmt st_rotate = {"rotate", sql_rotate, 6, 0};

/* $1 hash, $2 refresh_grace, $3 the client presenting it (as $6 above):
 * why a token did not rotate.  Another client's token (or an OAuth
 * client's at the JSON surface) is not found: it is refused as unknown,
 * and its session is not touched. */
static const char sql_inspect[] =
    "SELECT t.id, t.session_id, u.id, u.username, u.email, t.used_at IS NOT NULL,"
    " coalesce(t.used_at > now() - make_interval(secs => $2::int), false),"
    " t.expires_at > now(), coalesce(" AUTH_SESSION_LIVE ", false), u.roles::text,"
    " u.security_stamp, s.scope::text, s.remember"
    " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
    " LEFT JOIN auth_users u ON u.id = s.user_id"
    " WHERE t.token_hash = $1::bytea AND s.client_id IS NOT DISTINCT FROM $3";
static struct db_stmt st_inspect = {"refresh_inspect", sql_inspect, 3, 0};

enum {
	I_ID,
	I_SESSION,
	I_USER,
	I_USERNAME,
	I_EMAIL,
	I_USED,
	I_IN_GRACE,
	I_UNEXPIRED,
	I_LIVE,
	I_ROLES,
	I_STAMP,
	I_SCOPE,
	I_REMEMBER
};

/* $1 token id: its successors, oldest first. */
static const char sql_chain[] =
    "WITH RECURSIVE c AS ("
    " SELECT id, sealed, used_at, expires_at, 1 AS depth FROM refresh_tokens WHERE parent_id = $1"
    " UNION ALL"
    " SELECT r.id, r.sealed, r.used_at, r.expires_at, c.depth + 1"
    " FROM refresh_tokens r JOIN c ON r.parent_id = c.id WHERE c.depth < 32)"
    " SELECT sealed, used_at IS NULL, expires_at > now(),"
    " ceil(extract(epoch FROM expires_at - now()))::bigint FROM c ORDER BY depth";
static struct db_stmt st_chain = {"refresh_chain", sql_chain, 1, 0};

/* $1 session id, $2 reason. */
static const char sql_revoke[] = "UPDATE sessions SET revoked_at = now(), revoked_reason = $2"
				 " WHERE id = $1 AND revoked_at IS NULL";
static struct db_stmt st_revoke = {"revoke", sql_revoke, 2, 0};

/* $1 hash: end the session a refresh token belongs to (found through the
 * token, by key: no join whose order stale statistics could choose). */
static const char sql_logout_refresh[] =
    "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'"
    " WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1::bytea)"
    "  AND revoked_at IS NULL"
    " RETURNING id";
static struct db_stmt st_logout_refresh = {"logout_refresh", sql_logout_refresh, 1, 0};

/* $1 session id, $2 user id: end the session of an access token. */
static const char sql_logout_session[] =
    "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'"
    " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id";
static struct db_stmt st_logout_session = {"logout_session", sql_logout_session, 2, 0};

/* Read the required refreshToken member; -1 after a 400 reply.  Its form
 * is refresh_parse's business: a malformed token is a 401 like any other
 * unusable one. */
static int need_refresh_token(struct http_req *r, struct json_object *body, const char **s,
			      size_t *len)
{
	struct json_object *errors = json_object_new_array();

	if (http_need_str(body, "refreshToken", "refreshToken", HTTP_STR_NONEMPTY, 0, s, len,
			  errors) != 0) {
		http_errors(r, 400, errors);
		return -1;
	}
	json_object_put(errors);
	return 0;
}

/* A token that did not rotate: grace (the current pair: AUTH_OK), reuse
 * (revoke the session), or refused. */
static enum auth_outcome refresh_not_rotated(struct http_req *r,
					     const unsigned char raw[REFRESH_RAWBYTES],
					     const char *hash_hex, const char *client_id,
					     struct auth_refresh_result *out)
{
	char grace[24];
	unsigned char cur[REFRESH_RAWBYTES], next[REFRESH_RAWBYTES], box[REFRESH_SEALBYTES];
	enum auth_outcome rc = AUTH_REFUSED;
	PGresult *res, *chain;
	int n;

	snprintf(grace, sizeof(grace), "%ld", conf_int(CONF_REFRESH_GRACE));
	{
		const char *p[] = {hash_hex, grace, client_id};
		res = out->res = db_exec_stmt(&auth.db, &st_inspect, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "refresh_inspect");
		return AUTH_REPLIED;
	}
	if (PQntuples(res) != 1) {
		log_info("event=refresh_failed reason=unknown");
		return AUTH_REFUSED;
	}
	if (PQgetvalue(res, 0, I_LIVE)[0] != 't') {
		log_info("event=refresh_failed reason=session_ended session=%s",
			 PQgetvalue(res, 0, I_SESSION));
		return AUTH_REFUSED;
	}
	if (PQgetvalue(res, 0, I_USED)[0] != 't') {
		/* unused yet not rotated: expired (or rotation lost a race) */
		log_info("event=refresh_failed reason=%s session=%s",
			 PQgetvalue(res, 0, I_UNEXPIRED)[0] == 't' ? "not_rotated" : "expired",
			 PQgetvalue(res, 0, I_SESSION));
		return AUTH_REFUSED;
	}
	if (PQgetvalue(res, 0, I_IN_GRACE)[0] != 't') {
		/* a used token again, after its grace: it was stolen or copied.
		 * End the whole family; the next use of its current token fails. */
		PGresult *rv;
		const char *p[] = {PQgetvalue(res, 0, I_SESSION), "refresh_reuse"};

		rv = db_exec_stmt(&auth.db, &st_revoke, p, 0);
		if (PQresultStatus(rv) != PGRES_COMMAND_OK) {
			auth_db_failed(r, rv, "refresh_revoke");
			PQclear(rv);
			return AUTH_REPLIED;
		}
		PQclear(rv);
		metrics_refresh_reuse();
		log_warnx("event=refresh_reuse session=%s user=%s msg=\"session revoked\"",
			  PQgetvalue(res, 0, I_SESSION), PQgetvalue(res, 0, I_USER));
		return AUTH_REFUSED;
	}

	/* Within the grace period: follow the rotations from this token to
	 * the current one, each unsealed with the raw bytes of the one
	 * before. */
	{
		const char *p[] = {PQgetvalue(res, 0, I_ID)};
		chain = out->chain = db_exec_stmt(&auth.db, &st_chain, p, 1);
	}
	if (PQresultStatus(chain) != PGRES_TUPLES_OK) {
		auth_db_failed(r, chain, "refresh_chain");
		return AUTH_REPLIED;
	}
	n = PQntuples(chain);
	memcpy(cur, raw, sizeof(cur));
	for (int i = 0; i < n; i++) {
		if (auth_bytea_get(box, sizeof(box), PQgetvalue(chain, i, 0)) != 0 ||
		    refresh_open(next, box, cur) != 0) {
			log_error("event=refresh_failed reason=unseal_failed session=%s",
				  PQgetvalue(res, 0, I_SESSION));
			goto out;
		}
		memcpy(cur, next, sizeof(cur));
	}
	if (n == 0 || PQgetvalue(chain, n - 1, 1)[0] != 't' ||
	    PQgetvalue(chain, n - 1, 2)[0] != 't') {
		log_info("event=refresh_failed reason=no_current_token session=%s",
			 PQgetvalue(res, 0, I_SESSION));
		goto out;
	}
	refresh_format(out->refresh, cur);
	log_info("event=refresh_grace session=%s user=%s hops=%d", PQgetvalue(res, 0, I_SESSION),
		 PQgetvalue(res, 0, I_USER), n);
	out->u = (struct auth_user){PQgetvalue(res, 0, I_USER), PQgetvalue(res, 0, I_USERNAME),
				    PQgetvalue(res, 0, I_EMAIL), PQgetvalue(res, 0, I_ROLES),
				    PQgetvalue(res, 0, I_STAMP)};
	snprintf(out->sid, sizeof(out->sid), "%s", PQgetvalue(res, 0, I_SESSION));
	out->scope_pg = PQgetvalue(res, 0, I_SCOPE);
	out->remember = PQgetvalue(res, 0, I_REMEMBER)[0] == 't';
	out->refresh_expires_in = atol(PQgetvalue(chain, n - 1, 3));
	rc = AUTH_OK;
out:
	sodium_memzero(cur, sizeof(cur));
	sodium_memzero(next, sizeof(next));
	return rc;
}

void auth_refresh_result_clear(struct auth_refresh_result *out)
{
	PQclear(out->res);
	PQclear(out->chain);
	sodium_memzero(out, sizeof(*out));
}

enum auth_outcome auth_refresh_attempt(struct http_req *r, const unsigned char raw[REFRESH_RAWBYTES],
				       const char *client_id, struct auth_refresh_result *out)
{
	unsigned char nraw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES], box[REFRESH_SEALBYTES];
	char hash_hex[HASH_HEX], nhash_hex[HASH_HEX], box_hex[SEAL_HEX], ttl[24], ttl_rem[24];
	enum auth_outcome rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	refresh_hash(hash, raw);
	auth_bytea(hash_hex, hash, sizeof(hash));
	/* the successor is made before we know the token is good: cheap, and
	 * it keeps the normal case to one statement */
	refresh_new(out->refresh, nraw);
	refresh_hash(hash, nraw);
	auth_bytea(nhash_hex, hash, sizeof(hash));
	refresh_seal(box, raw, nraw);
	sodium_memzero(nraw, sizeof(nraw));
	auth_bytea(box_hex, box, sizeof(box));
	snprintf(ttl, sizeof(ttl), "%ld", conf_int(CONF_REFRESH_TTL));
	snprintf(ttl_rem, sizeof(ttl_rem), "%ld", conf_int(CONF_REFRESH_TTL_REMEMBER));
	{
		const char *p[] = {hash_hex, nhash_hex, box_hex, ttl, ttl_rem, client_id};
		/* not retried: a lost connection may have committed */
		res = out->res = db_exec_stmt(&auth.db, &st_rotate, p, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "refresh_rotate");
		return AUTH_REPLIED;
	}
	if (PQntuples(res) == 1) {
		out->u = (struct auth_user){PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
					    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 5),
					    PQgetvalue(res, 0, 6)};
		snprintf(out->sid, sizeof(out->sid), "%s", PQgetvalue(res, 0, 0));
		out->scope_pg = PQgetvalue(res, 0, 7);
		out->remember = PQgetvalue(res, 0, 8)[0] == 't';
		out->refresh_expires_in = atol(PQgetvalue(res, 0, 4));
		metrics_refresh_rotation();
		metrics_token(METRICS_TOKEN_REFRESH);
		log_info("event=refresh_ok session=%s user=%s%s%s", out->sid, out->u.id,
			 client_id ? " client=" : "", client_id ? client_id : "");
		return AUTH_OK;
	}
	PQclear(res);
	out->res = NULL;
	sodium_memzero(out->refresh, sizeof(out->refresh));
	rc = refresh_not_rotated(r, raw, hash_hex, client_id, out);
	if (rc != AUTH_OK)
		sodium_memzero(out->refresh, sizeof(out->refresh));
	return rc;
}

/* 1 when the request carries a body: an empty one (whatever its
 * Content-Type, as curl -d '' sends) is none. */
static int has_body(struct http_req *r)
{
	const char *cl = http_param(r, "CONTENT_LENGTH");

	return cl && *cl && strcmp(cl, "0") != 0;
}

/* POST /api/auth/refresh: the body's refreshToken; with refresh_cookie,
 * else the magenta_refresh cookie (an empty body, or one without
 * refreshToken), from an allowed Origin only: each of them, up to
 * AUTH_REFRESH_COOKIES_MAX, until one rotates (another site's cookie of
 * the same name may come first). */
void h_refresh(struct http_req *r)
{
	struct json_object *body = NULL;
	struct auth_refresh_result out;
	const char *tok = NULL, *next = NULL;
	size_t len = 0;
	unsigned char raw[REFRESH_RAWBYTES];
	char line[256] = "", clear[160] = "";
	int cookie_on = conf_bool(CONF_REFRESH_COOKIE), via_cookie = 0, tried = 0;
	enum auth_outcome rc;

	memset(raw, 0, sizeof(raw));
	memset(&out, 0, sizeof(out));
	if (!cookie_on || has_body(r)) {
		if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
			goto out;
		if ((!cookie_on || json_object_object_get_ex(body, "refreshToken", NULL) ||
		     !auth_refresh_cookie_present(r)) &&
		    need_refresh_token(r, body, &tok, &len) != 0)
			goto out;
	}
	if (!tok) {
		int got = auth_refresh_cookie_get(r, &next, &tok, &len);

		if (got == -2)
			goto out;
		if (got == -1) {
			http_error(r, 400, "required", "refreshToken is required.", "refreshToken");
			goto out;
		}
		via_cookie = 1;
		/* a refused cookie is removed, so the page stops sending it */
		if (auth_refresh_cookie_line(clear, sizeof(clear), NULL, 0, 0) != 0)
			clear[0] = '\0';
	}
	for (;;) {
		rc = AUTH_REFUSED;
		if (refresh_parse(tok, len, raw) != 0)
			log_info("event=refresh_failed reason=malformed%s",
				 via_cookie ? " via=cookie" : "");
		else
			rc = auth_refresh_attempt(r, raw, NULL, &out);
		sodium_memzero(raw, sizeof(raw));
		if (rc != AUTH_REFUSED || !via_cookie || ++tried >= AUTH_REFRESH_COOKIES_MAX ||
		    auth_refresh_cookie_next(&next, &tok, &len) != 0)
			break;
		auth_refresh_result_clear(&out); /* the next cookie */
	}
	switch (rc) {
	case AUTH_OK:
		if (cookie_on &&
		    auth_refresh_cookie_line(line, sizeof(line), out.refresh,
					     out.refresh_expires_in, out.remember) != 0) {
			log_error("event=refresh_cookie_failed session=%s", out.sid);
			http_error(r, 500, "internal_error", "Internal error.", NULL);
			break;
		}
		auth_reply_login(r, &out.u, out.sid, out.refresh, out.refresh_expires_in, NULL,
				 cookie_on ? line : NULL);
		break;
	case AUTH_REFUSED:
	case AUTH_THROTTLED:
	case AUTH_MFA_REQUIRED: /* not a refresh's outcome */
		http_error_h(r, 401, *clear ? clear : NULL, "invalid_refresh_token",
			     "The refresh token is invalid, expired or revoked.", "refreshToken");
		break;
	case AUTH_REPLIED:
		break;
	}
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(line, sizeof(line));
	auth_refresh_result_clear(&out);
	json_put_wiped(body); /* json-c's copy of the token */
}

/* Run a revoking statement; 0, or -1 after a 5xx reply. */
static int revoke(struct http_req *r, struct db_stmt *st, const char *const *p, const char *how)
{
	PGresult *res = db_exec_stmt(&auth.db, st, p, 1);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "logout");
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 1)
		log_info("event=logout session=%s via=%s", PQgetvalue(res, 0, 0), how);
	PQclear(res);
	return 0;
}

/* POST /api/auth/logout: the refresh token in the body, or the Bearer
 * access token (even expired: its signature proves the session is ours),
 * or with refresh_cookie the magenta_refresh cookie (when the body has no
 * refreshToken; from an allowed Origin only), which the answer removes.
 * 200 whatever the token, as RFC 7009 asks, so the answer tells nothing. */
void h_logout(struct http_req *r)
{
	struct json_object *body = NULL, *o;
	const char *tok = NULL, *next = NULL;
	size_t len = 0;
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	char hash_hex[HASH_HEX];
	struct token_claims c;
	int absent = 1, rc;
	enum token_status st = TOKEN_MALFORMED;
	const char *via = "refresh_token";
	char clear[160] = "";

	memset(raw, 0, sizeof(raw));
	if (has_body(r)) {
		if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
			goto out;
		rc = json_get_str(body, "refreshToken", &tok, &len);
		if (rc < 0) {
			http_error(r, 400, "invalid_type", "refreshToken must be a string.",
				   "refreshToken");
			goto out;
		}
		if (rc == 1)
			tok = NULL;
	}
	if (!tok && auth_refresh_cookie_present(r)) {
		if (auth_refresh_cookie_get(r, &next, &tok, &len) != 0)
			goto out;
		via = "refresh_cookie";
	}
	st = auth_bearer(r, 0, &c, &absent);
	if (!tok && absent) {
		http_error(r, 400, "invalid_request",
			   "Send the refresh token as refreshToken, or the access token as a "
			   "Bearer token.",
			   NULL);
		goto out;
	}
	/* the body's token, or every refresh cookie (up to
	 * AUTH_REFRESH_COOKIES_MAX): which one is the page's is unknown */
	for (int n = 0; tok && n < AUTH_REFRESH_COOKIES_MAX; n++) {
		if (refresh_parse(tok, len, raw) == 0) {
			const char *p[1] = {hash_hex};
			refresh_hash(hash, raw);
			auth_bytea(hash_hex, hash, sizeof(hash));
			if (revoke(r, &st_logout_refresh, p, via) != 0)
				goto out;
		}
		if (!next || auth_refresh_cookie_next(&next, &tok, &len) != 0)
			break;
	}
	if (!absent && st == TOKEN_OK) {
		const char *p[] = {c.sid, c.sub};
		if (revoke(r, &st_logout_session, p, "access_token") != 0)
			goto out;
	} else if (!absent) {
		log_info("event=logout_ignored reason=%s", token_status_text(st));
	}
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string("Logged out."));
	if (conf_bool(CONF_REFRESH_COOKIE) &&
	    auth_refresh_cookie_line(clear, sizeof(clear), NULL, 0, 0) != 0)
		clear[0] = '\0';
	http_reply(r, 200, *clear ? clear : NULL, o);
out:
	sodium_memzero(raw, sizeof(raw));
	json_put_wiped(body); /* json-c's copy of the token */
}
