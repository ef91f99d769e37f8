/* oauth_userinfo: GET or POST /oauth2/userinfo (OpenID Connect Core 5.3)
 * with a Bearer access token of a live session that was granted the
 * openid scope: sub always, and the claims of its other scopes (5.4):
 * profile -> preferred_username, name (the display name, when set),
 * updated_at; email -> email, email_verified.  Errors as RFC 6750 3.1
 * says: 401 invalid_token, 403 insufficient_scope (a token of the JSON
 * login, or one without openid).  The scopes are the token's own (a
 * refresh may have narrowed them below its session's). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oauth.h"

/* $1 session id, $2 user id. */
static struct db_stmt st_userinfo = {
    "oauth_userinfo",
    "SELECT u.username, u.email, u.email_confirmed, u.display_name,"
    " extract(epoch FROM u.updated_at)::bigint"
    " FROM sessions s JOIN auth_users u ON u.id = s.user_id"
    " WHERE s.id = $1::uuid AND s.user_id = $2::uuid AND" AUTH_SESSION_LIVE,
    2, 0};

void h_oauth_userinfo(struct http_req *r)
{
	struct token_claims c;
	struct json_object *o;
	unsigned scopes = 0;
	int absent;
	enum token_status st = auth_bearer(r, 1, &c, &absent);
	PGresult *res;

	if (st != TOKEN_OK) {
		if (!absent)
			log_info("event=token_refused reason=%s via=userinfo",
				 token_status_text(st));
		auth_reply_invalid_token(r, absent ? "A Bearer access token is required."
						   : "The access token is invalid.");
		return;
	}
	{
		const char *p[] = {c.sid, c.sub};
		res = db_exec_stmt(&auth.db, &st_userinfo, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_userinfo");
		PQclear(res);
		return;
	}
	if (PQntuples(res) != 1) {
		log_info("event=token_refused reason=session_ended session=%s via=userinfo", c.sid);
		auth_reply_invalid_token(r, "The session has ended.");
		PQclear(res);
		return;
	}
	if (!c.client_id[0] || oauth_scope_parse(c.scope, strlen(c.scope), &scopes) != 0 ||
	    !(scopes & OAUTH_SCOPE_OPENID)) {
		PQclear(res);
		http_error_h(r, 403,
			     "WWW-Authenticate: Bearer realm=\"magenta\", error=\"insufficient_scope\", "
			     "scope=\"openid\"\r\n",
			     "insufficient_scope", "The access token was not granted the openid scope.",
			     NULL);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "sub", json_object_new_string(c.sub));
	if (scopes & OAUTH_SCOPE_PROFILE) {
		json_object_object_add(o, "preferred_username",
				       json_object_new_string(PQgetvalue(res, 0, 0)));
		if (!PQgetisnull(res, 0, 3))
			json_object_object_add(o, "name",
					       json_object_new_string(PQgetvalue(res, 0, 3)));
		json_object_object_add(o, "updated_at",
				       json_object_new_int64(atoll(PQgetvalue(res, 0, 4))));
	}
	if (scopes & OAUTH_SCOPE_EMAIL) {
		json_object_object_add(o, "email", json_object_new_string(PQgetvalue(res, 0, 1)));
		json_object_object_add(o, "email_verified",
				       json_object_new_boolean(PQgetvalue(res, 0, 2)[0] == 't'));
	}
	PQclear(res);
	http_reply(r, 200, NULL, o);
}
