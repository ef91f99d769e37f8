/* oauth: the OAuth 2.0 surface of magenta-auth (docs/oauth2.md), beside
 * the seed's JSON endpoints and on the same cores (auth_login_attempt,
 * auth_refresh_attempt):
 *   oauth.c         form bodies, client authentication, the error and
 *                   token answers of RFC 6749 section 5
 *   oauth_token.c   POST /oauth2/token: the password and refresh_token grants
 *   oauth_revoke.c  POST /oauth2/revoke (RFC 7009)
 *   oauth_introspect.c  POST /oauth2/introspect (RFC 7662)
 *   oauth_userinfo.c    GET/POST /oauth2/userinfo (OpenID Connect Core 5.3)
 *
 * Answers follow RFC 6749, not Magenta's JSON shape: errors are
 * {"error":CODE,"error_description":TEXT} (oauth_error, the one function
 * that makes them), tokens {"access_token",...}, both with Cache-Control:
 * no-store and Pragma: no-cache. */
#ifndef MAGENTA_OAUTH_H
#define MAGENTA_OAUTH_H

#include "auth.h"
#include "form.h"
#include "oauth_client.h"

/* The authenticated (or, for a public client, identified) client. */
struct oauth_client {
	char id[OAUTH_CLIENT_ID_MAX + 1];
	unsigned scopes; /* what it may be granted */
	int password_grant, refresh_grant; /* the grants it may use */
	int public;
};

/* An RFC 6749 5.2 error: 400, or 401 with WWW-Authenticate: Basic for
 * invalid_client; extra_headers as http_reply's (NULL for none). */
void oauth_error(struct http_req *r, int status, const char *code, const char *description,
		 const char *extra_headers);

/* Read and parse an application/x-www-form-urlencoded body into *f (freed
 * by the caller with form_free, either way).  0, or -1 after replying
 * invalid_request (or 413 for a body over body_limit). */
int oauth_form(struct http_req *r, struct form *f);

/* Authenticate the client of a token, introspection or revocation
 * request: client_secret_basic (the Authorization header) or
 * client_secret_post (client_id and client_secret in the form), never both;
 * a public client sends its client_id alone.  0 with *c filled, or -1
 * after replying (401 invalid_client: unknown client, wrong or missing
 * secret, a secret for a public client; 400 invalid_request; 5xx).  The
 * secret is compared in constant time, and an unknown client's request
 * hashes and compares as a known one's does. */
int oauth_client_auth(struct http_req *r, const struct form *f, struct oauth_client *c);

/* A form parameter, with RFC 6749 3.1's rule that an empty one counts as
 * absent: its value, or NULL. */
const char *oauth_param(const struct form *f, const char *name, size_t *len);

/* The scope to grant: the scope parameter (NULL: absent) checked against
 * allowed, or allowed itself when absent.  0 with *scopes set, or -1 after
 * replying invalid_scope. */
int oauth_scope_request(struct http_req *r, const char *param, size_t len, unsigned allowed,
			unsigned *scopes);

/* The RFC 6749 5.1 answer for user u's session sid: a new access token for
 * client c with scopes, the refresh token and its lifetime. */
void oauth_reply_tokens(struct http_req *r, const struct oauth_client *c, unsigned scopes,
			const struct auth_user *u, const char *sid,
			const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in);

/* POST /oauth2/token */
void h_oauth_token(struct http_req *r);
/* POST /oauth2/revoke */
void h_oauth_revoke(struct http_req *r);
/* POST /oauth2/introspect */
void h_oauth_introspect(struct http_req *r);
/* GET and POST /oauth2/userinfo */
void h_oauth_userinfo(struct http_req *r);

#endif
