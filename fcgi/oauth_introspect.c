/* oauth_introspect: POST /oauth2/introspect (RFC 7662).  The caller must
 * be a confidential client (a resource server is one): introspection
 * tells about any client's tokens.  A live token answers "active": true
 * with its claims; anything else, whatever the reason, {"active": false}.
 *
 * Live: an access token whose signature, issuer, audience and times verify
 * and whose session is still alive (not logged out or revoked, its user
 * not deleted, locked, or with a new password); a refresh token that is
 * the current, unexpired one of a live session.  An access token's
 * client_id and scope are its own claims (a refresh may have narrowed the
 * scope below its session's); a refresh token's, its session's.  Tokens of
 * the JSON login have neither. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "oauth.h"
#include "uuid7.h"

/* $1 session id, $2 user id: the session's user, client and scope. */
static struct db_stmt st_access = {
    "oauth_introspect_access",
    "SELECT u.username, s.client_id, s.scope::text"
    " FROM sessions s JOIN auth_users u ON u.id = s.user_id"
    " WHERE s.id = $1::uuid AND s.user_id = $2::uuid AND" AUTH_SESSION_LIVE,
    2, 0};

/* $1 refresh token hash. */
static struct db_stmt st_refresh = {
    "oauth_introspect_refresh",
    "SELECT u.username, s.client_id, s.scope::text, u.id, s.id,"
    " extract(epoch FROM t.expires_at)::bigint, extract(epoch FROM t.created_at)::bigint"
    " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
    " JOIN auth_users u ON u.id = s.user_id"
    " WHERE t.token_hash = $1::bytea AND t.used_at IS NULL AND t.expires_at > now() AND"
    AUTH_SESSION_LIVE,
    1, 0};

/* The username, client_id and scope of the session row res (columns 0,
 * 1, 2) into o. */
static void add_session(struct json_object *o, PGresult *res)
{
	unsigned scopes;
	char text[OAUTH_SCOPE_STRMAX];

	json_object_object_add(o, "username", json_object_new_string(PQgetvalue(res, 0, 0)));
	if (!PQgetisnull(res, 0, 1))
		json_object_object_add(o, "client_id",
				       json_object_new_string(PQgetvalue(res, 0, 1)));
	if (!PQgetisnull(res, 0, 2) && oauth_scope_from_pg(PQgetvalue(res, 0, 2), &scopes) == 0)
		json_object_object_add(o, "scope",
				       json_object_new_string(oauth_scope_text(scopes, text)));
}

/* The answer for a refresh token (raw), or NULL when it is not live;
 * -1 in *failed after a 5xx reply. */
static struct json_object *refresh_info(struct http_req *r, const unsigned char *raw, int *failed)
{
	unsigned char hash[REFRESH_HASHBYTES];
	char hash_hex[2 * REFRESH_HASHBYTES + 3];
	struct json_object *o = NULL;
	const char *p[] = {hash_hex};
	PGresult *res;

	refresh_hash(hash, raw);
	auth_bytea(hash_hex, hash, sizeof(hash));
	res = db_exec_stmt(&auth.db, &st_refresh, p, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_introspect");
		*failed = 1;
	} else if (PQntuples(res) == 1) {
		o = json_object_new_object();
		json_object_object_add(o, "active", json_object_new_boolean(1));
		add_session(o, res);
		json_object_object_add(o, "sub", json_object_new_string(PQgetvalue(res, 0, 3)));
		json_object_object_add(o, "sid", json_object_new_string(PQgetvalue(res, 0, 4)));
		json_object_object_add(o, "exp",
				       json_object_new_int64(atoll(PQgetvalue(res, 0, 5))));
		json_object_object_add(o, "iat",
				       json_object_new_int64(atoll(PQgetvalue(res, 0, 6))));
	}
	PQclear(res);
	return o;
}

/* The answer for an access token, or NULL when it is not live. */
static struct json_object *access_info(struct http_req *r, const char *tok, size_t len,
				       int *failed)
{
	struct token_claims c;
	struct json_object *o = NULL;
	PGresult *res;

	time_t now = time(NULL);

	auth_keys_check();
	/* active until exp itself: the leeway is for verifiers' clocks, not
	 * for the issuer's own answer */
	if (token_verify(&auth.tok, tok, len, now, 1, &c) != TOKEN_OK || c.exp <= (long long)now ||
	    !uuid_valid(c.sub) || !uuid_valid(c.sid))
		return NULL;
	{
		const char *p[] = {c.sid, c.sub};
		res = db_exec_stmt(&auth.db, &st_access, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_introspect");
		*failed = 1;
	} else if (PQntuples(res) == 1) {
		o = json_object_new_object();
		json_object_object_add(o, "active", json_object_new_boolean(1));
		json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
		json_object_object_add(o, "username",
				       json_object_new_string(PQgetvalue(res, 0, 0)));
		if (c.client_id[0]) {
			json_object_object_add(o, "client_id", json_object_new_string(c.client_id));
			json_object_object_add(o, "scope", json_object_new_string(c.scope));
		}
		json_object_object_add(o, "sub", json_object_new_string(c.sub));
		json_object_object_add(o, "sid", json_object_new_string(c.sid));
		json_object_object_add(o, "jti", json_object_new_string(c.jti));
		json_object_object_add(o, "iss", json_object_new_string(conf_str(CONF_JWT_ISSUER)));
		json_object_object_add(o, "aud",
				       json_object_new_string(conf_str(CONF_JWT_AUDIENCE)));
		json_object_object_add(o, "exp", json_object_new_int64(c.exp));
		json_object_object_add(o, "iat", json_object_new_int64(c.iat));
		json_object_object_add(o, "nbf", json_object_new_int64(c.nbf));
	}
	PQclear(res);
	return o;
}

void h_oauth_introspect(struct http_req *r)
{
	struct form f;
	struct oauth_client c;
	struct json_object *o = NULL;
	unsigned char raw[REFRESH_RAWBYTES];
	const char *tok;
	size_t len = 0;
	int failed = 0;

	memset(raw, 0, sizeof(raw));
	if (oauth_form(r, &f) != 0)
		goto out;
	if (oauth_client_auth(r, &f, &c) != 0)
		goto out;
	if (c.public) {
		log_info("event=oauth_introspect_refused client=%s reason=public_client", c.id);
		oauth_error(r, 401, "invalid_client",
			    "Introspection is for confidential clients (resource servers).", NULL);
		goto out;
	}
	tok = oauth_param(&f, "token", &len);
	if (!tok) {
		oauth_error(r, 400, "invalid_request", "token is required.", NULL);
		goto out;
	}
	o = refresh_parse(tok, len, raw) == 0 ? refresh_info(r, raw, &failed)
					       : access_info(r, tok, len, &failed);
	if (failed)
		goto out;
	if (!o) {
		o = json_object_new_object();
		json_object_object_add(o, "active", json_object_new_boolean(0));
	}
	http_reply(r, 200, "Pragma: no-cache\r\n", o);
	o = NULL;
out:
	json_object_put(o);
	sodium_memzero(raw, sizeof(raw));
	form_free(&f);
}
