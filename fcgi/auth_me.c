/* auth_me: GET /api/auth/me and GET /api/auth/status, for a Bearer
 * access token whose session is still alive. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"

/* $1 session id, $2 user id: the user, when the session is alive, and
 * the seconds the session has left. */
static const char sql_me[] =
    "SELECT u.id, u.username, u.email, u.email_confirmed,"
    " to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " extract(epoch FROM s.expires_at - now())"
    " FROM sessions s JOIN auth_users u ON u.id = s.user_id"
    " WHERE s.id = $1 AND s.user_id = $2 AND" AUTH_SESSION_LIVE;
static struct db_stmt st_me = {"me", sql_me, 2, 0};

enum { M_ID, M_USERNAME, M_EMAIL, M_CONFIRMED, M_CREATED, M_LEFT };

/* What a client is told about a refused token. */
static const char *token_message(enum token_status st, int absent)
{
	if (absent)
		return "A Bearer access token is required.";
	switch (st) {
	case TOKEN_EXPIRED: return "The access token has expired.";
	case TOKEN_NOT_YET_VALID: return "The access token is not valid yet.";
	default: return "The access token is invalid.";
	}
}

/* Copy src into a fixed field; 0, or -1 when it does not fit. */
static int field_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Verify the bearer token and find its live session: from memory when
 * this process saw it alive moments ago and no notice said otherwise,
 * else from the database.  0 with *u and *c filled, or -1 after a 401 or
 * 5xx reply. */
static int me_lookup(struct http_req *r, struct token_claims *c, struct auth_cached *u)
{
	int absent, cached;
	enum token_status st = auth_bearer(r, 1, c, &absent);
	const struct auth_cached *hit;
	PGresult *res;

	if (st != TOKEN_OK) {
		if (!absent)
			log_info("event=token_refused reason=%s", token_status_text(st));
		auth_reply_invalid_token(r, token_message(st, absent));
		return -1;
	}
	if (c->client_id[0]) {
		/* an OAuth client's token: /oauth2/userinfo answers it, with the
		 * claims its scope allows; /me would tell more */
		log_info("event=token_refused reason=client_token client=%s", c->client_id);
		http_error_h(r, 403,
			     "WWW-Authenticate: Bearer realm=\"magenta\", error=\"insufficient_scope\"\r\n",
			     "insufficient_scope",
			     "A token issued to an OAuth client: use /oauth2/userinfo.", NULL);
		return -1;
	}
	cached = auth_cache_sync() == 0;
	if (cached && (hit = auth_cache_get(c->sid, c->sub)) != NULL) {
		*u = *hit;
		return 0;
	}
	{
		const char *p[] = {c->sid, c->sub};
		res = db_exec_stmt(&auth.db, &st_me, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "me");
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) != 1) {
		log_info("event=token_refused reason=session_ended session=%s", c->sid);
		auth_reply_invalid_token(r, "The session has ended.");
		PQclear(res);
		return -1;
	}
	memset(u, 0, sizeof(*u));
	if (field_copy(u->sid, sizeof(u->sid), c->sid) != 0 ||
	    field_copy(u->uid, sizeof(u->uid), PQgetvalue(res, 0, M_ID)) != 0 ||
	    field_copy(u->username, sizeof(u->username), PQgetvalue(res, 0, M_USERNAME)) != 0 ||
	    field_copy(u->email, sizeof(u->email), PQgetvalue(res, 0, M_EMAIL)) != 0 ||
	    field_copy(u->created_at, sizeof(u->created_at), PQgetvalue(res, 0, M_CREATED)) != 0) {
		log_error("event=me_failed user=%s msg=\"field too long\"", c->sub);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		PQclear(res);
		return -1;
	}
	u->email_confirmed = PQgetvalue(res, 0, M_CONFIRMED)[0] == 't';
	if (cached)
		auth_cache_put(u, atof(PQgetvalue(res, 0, M_LEFT)));
	PQclear(res);
	return 0;
}

/* GET /api/auth/me */
void h_me(struct http_req *r)
{
	struct token_claims c;
	struct auth_cached u;
	struct json_object *o;

	if (me_lookup(r, &c, &u) != 0)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(u.uid));
	json_object_object_add(o, "username", json_object_new_string(u.username));
	json_object_object_add(o, "email", json_object_new_string(u.email));
	json_object_object_add(o, "emailConfirmed", json_object_new_boolean(u.email_confirmed));
	json_object_object_add(o, "createdAt", json_object_new_string(u.created_at));
	http_reply(r, 200, NULL, o);
}

/* GET /api/auth/status: the seed's "am I logged in" answer. */
void h_status(struct http_req *r)
{
	struct token_claims c;
	struct auth_cached u;
	struct json_object *o;
	char exp[32];
	time_t t;
	struct tm tm;

	if (me_lookup(r, &c, &u) != 0)
		return;
	t = (time_t)c.exp;
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_object_new_object();
	json_object_object_add(o, "isAuthenticated", json_object_new_boolean(1));
	json_object_object_add(o, "userId", json_object_new_string(u.uid));
	json_object_object_add(o, "username", json_object_new_string(u.username));
	json_object_object_add(o, "email", json_object_new_string(u.email));
	json_object_object_add(o, "emailConfirmed", json_object_new_boolean(u.email_confirmed));
	json_object_object_add(o, "sessionId", json_object_new_string(c.sid));
	json_object_object_add(o, "expiresAt", json_object_new_string(exp));
	http_reply(r, 200, NULL, o);
}
