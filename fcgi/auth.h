/* auth: state and helpers shared by the authentication service's handlers.
 *
 * magenta-auth reads only MagentaAuthentication.  Its endpoints:
 *   auth_login.c      POST /api/auth/login
 *   auth_session.c    POST /api/auth/refresh, POST /api/auth/logout
 *   auth_me.c         GET /api/auth/me, GET /api/auth/status
 *   auth_wellknown.c  GET /.well-known/jwks.json, /.well-known/openid-configuration
 *   auth_cache.c      the live sessions remembered for /me and /status
 *   auth.c            main, routes, GET /api/auth/health, /api/auth/ready */
#ifndef MAGENTA_AUTH_H
#define MAGENTA_AUTH_H

#include <stddef.h>

#include "clientaddr.h"
#include "db.h"
#include "http.h"
#include "pwhash.h"
#include "refresh.h"
#include "token.h"

struct auth {
	struct db db;			  /* MagentaAuthentication */
	struct token_ctx tok;		  /* signing and verification keys */
	struct clientaddr_list *proxies;  /* trusted_proxies */
	char dummy_hash[PWHASH_STRBYTES]; /* verified against for unknown users */
	char *openid;			  /* openid-configuration text */
	size_t openid_len;
};

extern struct auth auth;

/* The session-is-usable condition over sessions s and auth_users u, for
 * every statement that accepts a session: not revoked, not past its
 * absolute end, its user alive, not locked by an administrator, and with
 * the security stamp the session began with. */
#define AUTH_SESSION_LIVE                                                                          \
	" s.revoked_at IS NULL AND s.expires_at > now() AND u.deleted_at IS NULL"                  \
	" AND u.security_stamp = s.security_stamp"                                                 \
	" AND NOT (u.lockout_enabled AND coalesce(u.lockout_end > now(), false))"

/* The user fields of a token answer; roles is auth_users.roles in
 * PostgreSQL's text form ("{admin}"), for the access token's claim. */
struct auth_user {
	const char *id, *username, *email, *roles;
	const char *stamp; /* the session's security stamp: the token's sst */
};

/* A session found alive, with what /me and /status tell of its user. */
struct auth_cached {
	char sid[TOKEN_ID_MAX + 1], uid[TOKEN_ID_MAX + 1];
	char username[256], email[256], created_at[40];
	int email_confirmed;
	double until; /* monotonic seconds */
	int used;
};

#define AUTH_CACHE_TTL 10.0 /* seconds, a bound should a notice go astray */

/* Make sure this process LISTENs for the change notices on its current
 * database connection, and forget what the notices received name.  0, or
 * -1 when there is no usable connection (nothing is then served from
 * memory). */
int auth_cache_sync(void);

/* The remembered live session sid of user uid (owned by the cache, valid
 * until the next call), or NULL. */
const struct auth_cached *auth_cache_get(const char *sid, const char *uid);

/* Remember v (copied) for at most ttl seconds (and AUTH_CACHE_TTL). */
void auth_cache_put(const struct auth_cached *v, double ttl);

/* The login core (auth_login.c), one implementation behind POST
 * /api/auth/login and the password grant of POST /oauth2/token: the
 * address's limit, the account's (or trusted device's) lockout counted
 * before the password is checked, one argon2id verification whether or
 * not the user exists, then the session and its first refresh token. */
struct auth_login_input {
	const char *ident, *password; /* username or email; validated */
	size_t ilen, plen;
	int remember;
	int has_device; /* a device token was presented, in device */
	unsigned char device[REFRESH_RAWBYTES];
	const char *client_id; /* the OAuth client's session (no device token), or NULL */
	const char *scope_pg;  /* and its scope, PostgreSQL's text[] form */
};

enum auth_outcome {
	AUTH_OK,	/* out is filled */
	AUTH_REFUSED,	/* unknown user, wrong password, locked: one answer for all */
	AUTH_THROTTLED, /* the address's limit: out->retry_after seconds */
	AUTH_REPLIED	/* a 5xx was sent */
};

struct auth_login_result {
	struct auth_user u; /* points into user */
	char sid[TOKEN_ID_MAX + 1];
	char refresh[REFRESH_STRLEN + 1];
	char device[REFRESH_STRLEN + 1]; /* the new device token ("" for a client) */
	long refresh_expires_in;
	long retry_after;
	int unconfirmed; /* AUTH_REFUSED: the password was right, the email not
			    confirmed (login_require_confirmed_email) */
	PGresult *user;
};

enum auth_outcome auth_login_attempt(struct http_req *r, const struct auth_login_input *in,
				     struct auth_login_result *out);

/* Wipe out and free what it holds (also after a failed attempt). */
void auth_login_result_clear(struct auth_login_result *out);

/* The refresh core (auth_session.c), behind POST /api/auth/refresh and
 * the refresh_token grant of POST /oauth2/token: rotate the token whose
 * raw bytes are raw, if it belongs to a live session of client_id (NULL:
 * a session of the JSON login); within refresh_grace of its rotation, give
 * the current successor again; a used token after that revokes its
 * session (reuse). */
struct auth_refresh_result {
	struct auth_user u; /* points into res */
	char sid[TOKEN_ID_MAX + 1];
	char refresh[REFRESH_STRLEN + 1]; /* the token to hand out */
	long refresh_expires_in;
	const char *scope_pg; /* the session's scope, "" for the JSON login's */
	PGresult *res, *chain;
};

enum auth_outcome auth_refresh_attempt(struct http_req *r, const unsigned char raw[REFRESH_RAWBYTES],
				       const char *client_id, struct auth_refresh_result *out);

void auth_refresh_result_clear(struct auth_refresh_result *out);

/* POST /api/auth/login */
void h_login(struct http_req *r);
/* POST /api/auth/refresh */
void h_refresh(struct http_req *r);
/* POST /api/auth/logout */
void h_logout(struct http_req *r);
/* GET /api/auth/me */
void h_me(struct http_req *r);
/* GET /api/auth/status */
void h_status(struct http_req *r);
/* GET /.well-known/jwks.json */
void h_jwks(struct http_req *r);
/* GET /.well-known/openid-configuration */
void h_openid_configuration(struct http_req *r);

/* Build the openid-configuration document into auth.openid; 0 or -1. */
int auth_wellknown_init(char *err, size_t errlen);

/* Build it again for the keys of t (after a key change); 0 or -1 (the old
 * one kept). */
int auth_wellknown_rebuild(const struct token_ctx *t);

/* The signing keys (auth_keys.c): load them into auth.tok (jwt_keys, or
 * jwt_key_dir's key ring); 0, or -1 with err. */
int auth_keys_init(char *err, size_t errlen);

/* Before using auth.tok: with jwt_key_dir, at most once a second, read the
 * key ring again if the directory changed or a key's state did. */
void auth_keys_check(void);

/* Sign a new access token for user u in session sid, and reply 200 with
 * {"accessToken","refreshToken","tokenType","expiresIn","refreshExpiresIn",
 * "user":{...}}.  500 when signing fails. */
void auth_reply_tokens(struct http_req *r, const struct auth_user *u, const char *sid,
		       const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in);

/* Sign an access token for user u in session sid (client_id and scope:
 * an OAuth client's, or NULL) into tok; its length, or -1 (logged). */
int auth_sign_access(const struct auth_user *u, const char *sid, const char *client_id,
		     const char *scope, char *tok, size_t cap);

/* The same for a login: with "deviceToken" when device is not NULL, and
 * extra_headers (lines ending in "\r\n", NULL for none; a Set-Cookie with
 * the device token, which the caller wipes) sent with the answer. */
void auth_reply_login(struct http_req *r, const struct auth_user *u, const char *sid,
		      const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in,
		      const char *device, const char *extra_headers);

/* Read "Authorization: Bearer TOKEN" and verify it (time checked unless
 * check_time is 0).  TOKEN_OK with *c filled and sub/sid checked to be
 * UUIDs; otherwise the failure (TOKEN_MALFORMED when there is no bearer
 * token at all, with *absent set). */
enum token_status auth_bearer(struct http_req *r, int check_time, struct token_claims *c,
			      int *absent);

/* 401 with WWW-Authenticate: Bearer error="invalid_token" and the error
 * shape. */
void auth_reply_invalid_token(struct http_req *r, const char *message);

/* Answer a failed statement: 503 when the database is unavailable, else
 * log it (as what) and 500. */
void auth_db_failed(struct http_req *r, const PGresult *res, const char *what);

/* Encode bytes as a bytea parameter ("\x" + hex) into out (2 * len + 3
 * bytes). */
void auth_bytea(char *out, const unsigned char *bin, size_t len);

/* Decode a bytea result value ("\x" + hex) into out (exactly len bytes); 0 or -1. */
int auth_bytea_get(unsigned char *out, size_t len, const char *text);

#endif
