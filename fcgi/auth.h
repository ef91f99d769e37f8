/* auth: state and helpers shared by the authentication service's handlers.
 *
 * magenta-auth reads only MagentaAuthentication.  Its endpoints:
 *   auth_login.c      POST /api/auth/login
 *   auth_session.c    POST /api/auth/refresh, POST /api/auth/logout
 *   auth_me.c         GET /api/auth/me, GET /api/auth/status
 *   auth_wellknown.c  GET /.well-known/jwks.json, /.well-known/openid-configuration
 *   auth_mfa.c        POST/GET/DELETE /api/auth/mfa/totp, .../confirm, .../disable,
 *                     POST /api/auth/mfa/verify (the TOTP second factor)
 *   auth_cache.c      the live sessions remembered for /me and /status
 *   auth.c            main, routes, GET /api/auth/health, /api/auth/ready */
#ifndef MAGENTA_AUTH_H
#define MAGENTA_AUTH_H

#include <stddef.h>

#include "clientaddr.h"
#include "db.h"
#include "http.h"
#include "mfa_key.h"
#include "pwhash.h"
#include "refresh.h"
#include "token.h"

struct auth {
	struct db db;			  /* MagentaAuthentication */
	struct token_ctx tok;		  /* signing and verification keys */
	struct clientaddr_list *proxies;  /* trusted_proxies */
	char dummy_hash[PWHASH_STRBYTES]; /* verified against for unknown users */
	struct mfa_key mfa;		  /* mfa_key_file (mfa.n == 0: none) */
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
	AUTH_OK,	  /* out is filled */
	AUTH_REFUSED,	  /* unknown user, wrong password, locked: one answer for all */
	AUTH_THROTTLED,	  /* the address's limit: out->retry_after seconds */
	AUTH_REPLIED,	  /* a 5xx was sent */
	AUTH_MFA_REQUIRED /* the password was right; out->mfa_ticket waits for a code */
};

struct auth_login_result {
	struct auth_user u; /* points into user */
	char sid[TOKEN_ID_MAX + 1];
	char refresh[REFRESH_STRLEN + 1];
	char device[REFRESH_STRLEN + 1]; /* the new device token ("" for a client) */
	long refresh_expires_in;
	long retry_after;
	char mfa_ticket[REFRESH_STRLEN + 1]; /* AUTH_MFA_REQUIRED */
	int unconfirmed; /* AUTH_REFUSED: the password was right, the email not
			    confirmed (login_require_confirmed_email) */
	PGresult *user;
};

/* One more attempt on the counter row c of login_lockouts or
 * login_devices, for an UPDATE's SET: the one after lockout_threshold
 * failures (parameter thr) locks it for lockout_base (base) doubled by
 * each earlier lock, at most lockout_max (max). */
#define SQL_COUNT_ATTEMPT_AT(thr, base, max)                                                       \
	"  failures = CASE WHEN c.failures >= " thr "::int THEN 0 ELSE c.failures + 1 END,"        \
	"  locks = CASE WHEN c.failures >= " thr "::int THEN c.locks + 1 ELSE c.locks END,"        \
	"  locked_until = CASE WHEN c.failures >= " thr "::int THEN now() + make_interval(secs =>" \
	"   least(" base "::float8 * power(2::float8, least(c.locks, 30)), " max "::float8))"      \
	"   ELSE c.locked_until END"
/* The same with the parameters $4, $5, $6. */
#define SQL_COUNT_ATTEMPT SQL_COUNT_ATTEMPT_AT("$4", "$5", "$6")

enum auth_outcome auth_login_attempt(struct http_req *r, const struct auth_login_input *in,
				     struct auth_login_result *out);

/* Wipe out and free what it holds (also after a failed attempt). */
void auth_login_result_clear(struct auth_login_result *out);

/* Open the session of a login that passed every check, for out->u (filled
 * by the caller, pointing into out->user or the caller's own result), from
 * client address addr, replacing the trusted device token whose hash is
 * device_hex (NULL: none); AUTH_OK with out filled, or AUTH_REPLIED after
 * a 5xx. */
enum auth_outcome auth_login_session(struct http_req *r, const struct auth_login_input *in,
				     const char *addr, const char *device_hex,
				     struct auth_login_result *out);

/* The second factor's hook in the login (auth_mfa.c), after the password
 * was verified and every lock checked, for the user out->u: AUTH_OK when
 * the user has no confirmed TOTP; for an enrolled user AUTH_MFA_REQUIRED
 * with out->mfa_ticket (the JSON login; device_hex as for
 * auth_login_session), or AUTH_REFUSED for an OAuth client's password
 * grant; AUTH_REPLIED after a 5xx. */
enum auth_outcome auth_mfa_gate(struct http_req *r, const struct auth_login_input *in,
				const char *device_hex, struct auth_login_result *out);

/* 403 {"error":"mfa_required","message","mfaTicket","expiresIn"}. */
void auth_mfa_reply_required(struct http_req *r, const char *ticket);

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
	int remember;	      /* the session's rememberMe */
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
/* POST /api/auth/mfa/totp */
void h_mfa_totp_enrol(struct http_req *r);
/* POST /api/auth/mfa/totp/confirm */
void h_mfa_totp_confirm(struct http_req *r);
/* DELETE /api/auth/mfa/totp, POST /api/auth/mfa/totp/disable */
void h_mfa_totp_disable(struct http_req *r);
/* GET /api/auth/mfa/totp */
void h_mfa_totp_status(struct http_req *r);
/* POST /api/auth/mfa/verify */
void h_mfa_verify(struct http_req *r);
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

/* The refresh cookie (auth_cookie.c, config refresh_cookie). */
#define AUTH_REFRESH_COOKIE "magenta_refresh"
#define AUTH_REFRESH_PATH "/api/auth/"

/* The Set-Cookie line that gives the refresh token refresh, for max_age
 * seconds when persistent (the session's rememberMe), else as a session
 * cookie the browser forgets when it closes; or (refresh NULL or "")
 * removes the cookie.  Into out (wipe it after use).  0 or -1 (does not
 * fit). */
int auth_refresh_cookie_line(char *out, size_t outlen, const char *refresh, long max_age,
			     int persistent) __attribute__((warn_unused_result));

/* 1 when refresh_cookie is on and the request carries a magenta_refresh
 * cookie. */
int auth_refresh_cookie_present(struct http_req *r);

/* The first refresh cookie's value as the request's refresh token (*tok,
 * *len point into the Cookie header; *next is where auth_refresh_cookie_next
 * goes on from): 0 when the request's Origin is one of
 * refresh_cookie_origins; -2 after a 403 forbidden_origin reply when it
 * is not (or there is none); -1 when there is no such cookie (nothing
 * replied). */
int auth_refresh_cookie_get(struct http_req *r, const char **next, const char **tok, size_t *len);

/* A request may carry several magenta_refresh cookies (a sibling
 * subdomain's Domain cookie, a more specific Path; docs/auth.md "The
 * refresh cookie"), in an order the browser picks: each is tried, up to
 * this many. */
#define AUTH_REFRESH_COOKIES_MAX 4

/* The next refresh cookie after the one auth_refresh_cookie_get (or the
 * previous call) gave: 0 with *tok, *len, *next moved on; -1 when there
 * is none. */
int auth_refresh_cookie_next(const char **next, const char **tok, size_t *len);

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
