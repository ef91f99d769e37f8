/* oauth_token: POST /oauth2/token (RFC 6749): the resource owner password
 * credentials grant (4.3, username or email) and the refresh_token grant
 * (6), on the same cores as POST /api/auth/login and /api/auth/refresh:
 * the same lockout, address limit, rotation and reuse detection. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "oauth.h"
#include "validate.h"

/* grant_type=password&username=U&password=P[&scope=S] */
static void grant_password(struct http_req *r, const struct form *f, const struct oauth_client *c)
{
	struct auth_login_input in;
	struct auth_login_result out;
	const char *scope_param;
	char scope_pg[OAUTH_SCOPE_STRMAX], hdr[48];
	size_t slen = 0, pmax = (size_t)conf_int(CONF_PASSWORD_MAX) * 4;
	unsigned scopes;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	in.ident = oauth_param(f, "username", &in.ilen);
	in.password = oauth_param(f, "password", &in.plen);
	if (!in.ident || !in.password) {
		oauth_error(r, 400, "invalid_request",
			    "The password grant needs username and password.", NULL);
		return;
	}
	if (in.plen > pmax) {
		oauth_error(r, 400, "invalid_request", "The password is too long.", NULL);
		return;
	}
	scope_param = oauth_param(f, "scope", &slen);
	if (oauth_scope_request(r, scope_param, slen, c->scopes, &scopes) != 0)
		return;
	/* Registration's rules, as the JSON login applies them: a name that
	 * no account can have is refused before any lookup, as any wrong
	 * credential is */
	if (!(memchr(in.ident, '@', in.ilen) ? valid_email(in.ident, in.ilen)
					      : valid_username(in.ident, in.ilen))) {
		log_info("event=login_failed reason=malformed_name client=%s", c->id);
		oauth_error(r, 400, "invalid_grant", "Invalid resource owner credentials.", NULL);
		return;
	}
	in.client_id = c->id;
	in.scope_pg = oauth_scope_pg(scopes, scope_pg);
	switch (auth_login_attempt(r, &in, &out)) {
	case AUTH_REFUSED:
	case AUTH_MFA_REQUIRED: /* never: the gate refuses a client's grant */
		oauth_error(r, 400, "invalid_grant",
			    out.unconfirmed ? "The email address of the account is not confirmed."
					    : "Invalid resource owner credentials.",
			    NULL);
		break;
	case AUTH_THROTTLED:
		snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", out.retry_after);
		oauth_error(r, 429, "temporarily_unavailable",
			    "Too many failed logins from this address; try again later.", hdr);
		break;
	case AUTH_OK:
		oauth_reply_tokens(r, c, scopes, &out.u, out.sid, out.refresh,
				   out.refresh_expires_in);
		break;
	case AUTH_REPLIED:
		break;
	}
	auth_login_result_clear(&out);
}

/* $1 a refresh token's hash, $2 the client: its session's scope. */
static struct db_stmt st_session_scope = {
    "oauth_session_scope",
    "SELECT s.scope::text FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
    " WHERE t.token_hash = $1::bytea AND s.client_id = $2",
    2, 0};

/* A scope asked of the refresh_token grant, checked before the token is
 * rotated: refused, the client keeps its token as it was.  0 with *scopes
 * set (0 when scope is absent: the session's, known after the rotation),
 * or -1 after replying.  An unknown token passes: the rotation refuses
 * it. */
static int refresh_scope_check(struct http_req *r, const struct form *f,
			       const struct oauth_client *c,
			       const unsigned char raw[REFRESH_RAWBYTES], unsigned *scopes)
{
	unsigned char hash[REFRESH_HASHBYTES];
	char hash_hex[2 * REFRESH_HASHBYTES + 3];
	const char *param = oauth_param(f, "scope", NULL);
	unsigned granted;
	PGresult *res;
	size_t len = 0;
	int rc = 0;

	*scopes = 0;
	if (!param)
		return 0;
	param = oauth_param(f, "scope", &len);
	if (oauth_scope_request(r, param, len, OAUTH_SCOPES_ALL, scopes) != 0)
		return -1;
	refresh_hash(hash, raw);
	auth_bytea(hash_hex, hash, sizeof(hash));
	{
		const char *p[] = {hash_hex, c->id};
		res = db_exec_stmt(&auth.db, &st_session_scope, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_session_scope");
		rc = -1;
	} else if (PQntuples(res) == 1 &&
		   (oauth_scope_from_pg(PQgetvalue(res, 0, 0), &granted) != 0 ||
		    (*scopes & ~granted))) {
		oauth_error(r, 400, "invalid_scope",
			    "The scope is more than this grant's session was given.", NULL);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* grant_type=refresh_token&refresh_token=T[&scope=S]: the scope may only
 * shrink (RFC 6749 section 6); the session keeps what it was granted. */
static void grant_refresh(struct http_req *r, const struct form *f, const struct oauth_client *c)
{
	struct auth_refresh_result out;
	unsigned char raw[REFRESH_RAWBYTES];
	const char *tok;
	size_t len = 0;
	unsigned granted, scopes;

	memset(&out, 0, sizeof(out));
	tok = oauth_param(f, "refresh_token", &len);
	if (!tok) {
		oauth_error(r, 400, "invalid_request", "The refresh_token grant needs refresh_token.",
			    NULL);
		return;
	}
	if (refresh_parse(tok, len, raw) != 0) {
		log_info("event=refresh_failed reason=malformed client=%s", c->id);
		oauth_error(r, 400, "invalid_grant",
			    "The refresh token is invalid, expired or revoked.", NULL);
		return;
	}
	if (refresh_scope_check(r, f, c, raw, &scopes) != 0)
		goto out;
	switch (auth_refresh_attempt(r, raw, c->id, &out)) {
	case AUTH_OK:
		if (oauth_scope_from_pg(out.scope_pg, &granted) != 0) {
			log_error("event=refresh_failed reason=unknown_scope session=%s", out.sid);
			http_error(r, 500, "internal_error", "Internal error.", NULL);
			break;
		}
		oauth_reply_tokens(r, c, scopes ? scopes & granted : granted, &out.u, out.sid,
				   out.refresh, out.refresh_expires_in);
		break;
	case AUTH_REFUSED:
	case AUTH_THROTTLED:
	case AUTH_MFA_REQUIRED: /* not a refresh's outcome */
		oauth_error(r, 400, "invalid_grant",
			    "The refresh token is invalid, expired or revoked.", NULL);
		break;
	case AUTH_REPLIED:
		break;
	}
out:
	sodium_memzero(raw, sizeof(raw));
	auth_refresh_result_clear(&out);
}

void h_oauth_token(struct http_req *r)
{
	struct form f;
	struct oauth_client c;
	const char *grant;

	if (oauth_form(r, &f) != 0)
		goto out;
	grant = oauth_param(&f, "grant_type", NULL);
	if (!grant) {
		oauth_error(r, 400, "invalid_request", "grant_type is required.", NULL);
		goto out;
	}
	if (strcmp(grant, "password") != 0 && strcmp(grant, "refresh_token") != 0) {
		oauth_error(r, 400, "unsupported_grant_type",
			    "grant_type must be password or refresh_token.", NULL);
		goto out;
	}
	if (oauth_client_auth(r, &f, &c) != 0)
		goto out;
	if (!(strcmp(grant, "password") == 0 ? c.password_grant : c.refresh_grant)) {
		log_info("event=oauth_grant_refused client=%s grant=%s", c.id, grant);
		oauth_error(r, 400, "unauthorized_client",
			    "This client may not use this grant type.", NULL);
		goto out;
	}
	if (strcmp(grant, "password") == 0)
		grant_password(r, &f, &c);
	else
		grant_refresh(r, &f, &c);
out:
	form_free(&f);
}
