/* magenta-auth: the authentication FastCGI program. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "cookie.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "roles.h"
#include "service.h"
#include "uuid7.h"

struct auth auth;

/* GET /api/auth/health: the process answers. */
static void h_health(struct http_req *r)
{
	static const char body[] = "{\"status\":\"ok\",\"service\":\"auth\"}";

	http_reply_text(r, 200, NULL, NULL, body, sizeof(body) - 1);
}

/* GET /api/auth/ready: the database answers too. */
static void h_ready(struct http_req *r)
{
	struct json_object *o = json_object_new_object();
	PGresult *res = db_exec(&auth.db, "SELECT 1", 0, NULL, 1);

	auth_keys_check();
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	char hdr[48];

	PQclear(res);
	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", conf_int(CONF_RETRY_AFTER));
	json_object_object_add(o, "status", json_object_new_string(ok ? "ready" : "unavailable"));
	json_object_object_add(o, "service", json_object_new_string("auth"));
	json_object_object_add(o, "database", json_object_new_string(ok ? "up" : "down"));
	json_object_object_add(o, "signingKey",
			       json_object_new_string(token_key_kid(&auth.tok, 0)));
	http_reply(r, ok ? 200 : 503, ok ? NULL : hdr, o);
}

/* Encode bytes as a bytea literal parameter. */
void auth_bytea(char *out, const unsigned char *bin, size_t len)
{
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, 2 * len + 1, bin, len);
}

/* Decode a bytea value in PostgreSQL's hex output format. */
int auth_bytea_get(unsigned char *out, size_t len, const char *text)
{
	size_t n = 0;
	const char *end = NULL;

	if (strncmp(text, "\\x", 2) != 0 || strlen(text + 2) != 2 * len)
		return -1;
	if (sodium_hex2bin(out, len, text + 2, 2 * len, NULL, &n, &end) != 0 || n != len)
		return -1;
	return 0;
}

/* 503 or 500 for a failed statement. */
void auth_db_failed(struct http_req *r, const PGresult *res, const char *what)
{
	if (db_unavailable(&auth.db, res)) {
		http_unavailable(r, conf_int(CONF_RETRY_AFTER));
		return;
	}
	db_log_error(what, res);
	http_error(r, 500, "internal_error", "Internal error.", NULL);
}

/* 401 for /me, /status and friends (RFC 6750 section 3). */
void auth_reply_invalid_token(struct http_req *r, const char *message)
{
	http_reply_invalid_token(r, message);
}

/* Authorization: Bearer, verified. */
enum token_status auth_bearer(struct http_req *r, int check_time, struct token_claims *c,
			      int *absent)
{
	const char *h;
	enum token_status st;
	size_t len;
	int rc = http_bearer_token(r, &h, &len);

	*absent = rc == 1;
	memset(c, 0, sizeof(*c));
	if (rc != 0)
		return TOKEN_MALFORMED;
	auth_keys_check();
	st = token_verify(&auth.tok, h, len, time(NULL), check_time, c);
	if (st == TOKEN_OK && (!uuid_valid(c->sub) || !uuid_valid(c->sid)))
		st = TOKEN_BAD_CLAIMS;
	return st;
}

/* A fresh access token and the pair as JSON. */
void auth_reply_tokens(struct http_req *r, const struct auth_user *u, const char *sid,
		       const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in)
{
	auth_reply_login(r, u, sid, refresh, refresh_expires_in, NULL, NULL);
}

int auth_sign_access(const struct auth_user *u, const char *sid, const char *client_id,
		     const char *scope, char *tok, size_t cap)
{
	struct token_claims c;
	long long now = (long long)time(NULL);
	int n;

	auth_keys_check();
	memset(&c, 0, sizeof(c));
	if (client_id && (strlen(client_id) > TOKEN_CLIENT_ID_MAX || !scope ||
			  strlen(scope) > TOKEN_SCOPE_MAX)) {
		log_error("event=token_sign_failed user=%s msg=\"client_id or scope too long\"", u->id);
		return -1;
	}
	if (client_id) {
		snprintf(c.client_id, sizeof(c.client_id), "%s", client_id);
		snprintf(c.scope, sizeof(c.scope), "%s", scope);
	}
	if (strlen(u->username) > TOKEN_USERNAME_MAX) {
		log_error("event=token_sign_failed user=%s msg=\"username too long\"", u->id);
		return -1;
	}
	/* a name roles.h does not know grants nothing, and no token is made
	 * that would silently lack a role the user was given; a client's
	 * token carries none: roles are for Magenta's own surfaces, which
	 * refuse client tokens (docs/oauth2.md) */
	if (roles_from_pg(u->roles, &c.roles) != 0) {
		log_error("event=token_sign_failed user=%s msg=\"unknown role in roles\"", u->id);
		return -1;
	}
	if (client_id)
		c.roles = 0;
	snprintf(c.sub, sizeof(c.sub), "%s", u->id);
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	snprintf(c.username, sizeof(c.username), "%s", u->username);
	token_stamp_digest(u->stamp, c.sst);
	uuid7_new(c.jti);
	c.iat = c.nbf = now;
	c.exp = now + conf_int(CONF_ACCESS_TTL);
	n = token_sign(&auth.tok, &c, tok, cap);
	if (n < 0)
		log_error("event=token_sign_failed user=%s", u->id);
	else
		metrics_token(METRICS_TOKEN_ACCESS);
	return n;
}

/* The token answer, with a login's device token in the body or a header. */
void auth_reply_login(struct http_req *r, const struct auth_user *u, const char *sid,
		      const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in,
		      const char *device, const char *extra_headers)
{
	const char *text;
	struct json_object *o, *user;
	char tok[TOKEN_MAX];
	int n = auth_sign_access(u, sid, NULL, NULL, tok, sizeof(tok));

	if (n < 0) {
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "accessToken", json_object_new_string_len(tok, n));
	json_object_object_add(o, "refreshToken", json_object_new_string(refresh));
	json_object_object_add(o, "tokenType", json_object_new_string("Bearer"));
	json_object_object_add(o, "expiresIn", json_object_new_int64(conf_int(CONF_ACCESS_TTL)));
	json_object_object_add(o, "refreshExpiresIn", json_object_new_int64(refresh_expires_in));
	user = json_object_new_object();
	json_object_object_add(user, "id", json_object_new_string(u->id));
	json_object_object_add(user, "username", json_object_new_string(u->username));
	json_object_object_add(user, "email", json_object_new_string(u->email));
	json_object_object_add(o, "user", user);
	if (device)
		json_object_object_add(o, "deviceToken", json_object_new_string(device));
	text = json_plain(o);
	r->secret_reply = 1;
	http_reply_text(r, 200, NULL, extra_headers, text, strlen(text));
	json_put_wiped_sent(o, text);
	sodium_memzero(tok, sizeof(tok));
}

static const struct http_route routes[] = {
    {"POST", "/api/auth/login", h_login, 0},
    {"POST", "/api/auth/refresh", h_refresh, 0},
    {"POST", "/api/auth/logout", h_logout, 0},
    {"GET", "/api/auth/me", h_me, 0},
    {"GET", "/api/auth/status", h_status, 0},
    {"GET", "/api/auth/mfa/totp", h_mfa_totp_status, 0},
    {"POST", "/api/auth/mfa/totp", h_mfa_totp_enrol, 0},
    {"DELETE", "/api/auth/mfa/totp", h_mfa_totp_disable, 0},
    {"POST", "/api/auth/mfa/totp/confirm", h_mfa_totp_confirm, 0},
    {"POST", "/api/auth/mfa/totp/disable", h_mfa_totp_disable, 0},
    {"POST", "/api/auth/mfa/verify", h_mfa_verify, 0},
    {"GET", "/api/auth/health", h_health, 0},
    {"GET", "/api/auth/ready", h_ready, 0},
    {"GET", "/api/auth/metrics", h_metrics, 0},
    {"GET", "/.well-known/jwks.json", h_jwks, 0},
    {"GET", "/.well-known/openid-configuration", h_openid_configuration, 0},
    {"POST", "/oauth2/token", h_oauth_token, 0},
    {"POST", "/oauth2/revoke", h_oauth_revoke, 0},
    {"POST", "/oauth2/introspect", h_oauth_introspect, 0},
    {"GET", "/oauth2/userinfo", h_oauth_userinfo, 0},
    {"POST", "/oauth2/userinfo", h_oauth_userinfo, 0},
};

/* Keys, hashing parameters, the dummy hash, proxies, database handle. */
static int auth_init(char *err, size_t errlen)
{
	if (pwhash_configure(1, err, errlen) != 0 || metrics_allow_configure(err, errlen) != 0)
		return -1;
	/* unknown users are verified against this, so they take as long as
	 * known ones: made here, after pwhash_init, at the configured cost */
	if (pwhash_dummy(auth.dummy_hash) != 0) {
		snprintf(err, errlen, "cannot make the dummy password hash (out of memory?)");
		return -1;
	}
	if (auth_keys_init(err, errlen) != 0)
		return -1;
	auth.proxies = clientaddr_list_parse(conf_str(CONF_TRUSTED_PROXIES), err, errlen);
	if (!auth.proxies) {
		char sub[300];
		snprintf(sub, sizeof(sub), "key 'trusted_proxies': %s", err);
		snprintf(err, errlen, "%s", sub);
		return -1;
	}
	if (cookie_origins_check(conf_str(CONF_REFRESH_COOKIE_ORIGINS), err, errlen) != 0) {
		char sub[300];
		snprintf(sub, sizeof(sub), "key 'refresh_cookie_origins': %s", err);
		snprintf(err, errlen, "%s", sub);
		return -1;
	}
	if (auth_wellknown_init(err, errlen) != 0)
		return -1;
	if (mfa_key_load(&auth.mfa, conf_str(CONF_MFA_KEY_FILE), err, errlen) != 0)
		return -1;
	if (auth.mfa.n == 0)
		log_warnx("event=mfa_off msg=\"no mfa_key_file: enrolment answers 503, enrolled "
			  "users cannot finish a login\" path=\"%s\"",
			  conf_str(CONF_MFA_KEY_FILE));
	db_init(&auth.db, conf_str(CONF_AUTH_DB), "magenta-auth");
	db_on_connect(&auth.db, DB_KEY_LOOKUPS);
	db_timeout(&auth.db, conf_int(CONF_PG_QUERY_TIMEOUT_MS));
	return 0;
}

/* What auth_init made: before a reload runs it again, and at exit. */
static void auth_release(void)
{
	db_close(&auth.db);
	token_ctx_release(&auth.tok);
	clientaddr_list_free(auth.proxies);
	auth.proxies = NULL;
	free(auth.openid);
	auth.openid = NULL;
	metrics_allow_release();
	mfa_key_release(&auth.mfa);
}

/* Serve the authentication routes until told to stop. */
int main(int argc, char **argv)
{
	static const struct service svc = {"auth", routes, sizeof(routes) / sizeof(routes[0]),
					   auth_init, auth_release, CONF_FOR_AUTH};
	int rc = service_main(&svc, argc, argv);

	auth_release();
	return rc;
}
