/* registration: state and helpers shared by the registration service's
 * handlers (docs/registration.md).
 *
 * magenta-registration reads and writes only MagentaUsers.  Its endpoints:
 *   register.c        POST /api/registration/register
 *   users_me.c        GET, PATCH, DELETE /api/registration/users/me;
 *                     GET /api/registration/users/{id}
 *   users_password.c  POST /api/registration/users/me/password
 *   users_admin.c     GET /api/registration/admin/users,
 *                     POST .../admin/users/{id}/lock and /unlock,
 *                     DELETE .../admin/users/{id}
 *   users_caller.c    who calls (Bearer access tokens), re-authentication
 *   users_rules.c     the validation rules of every field
 *   users_confirm.c   POST /api/registration/confirm-email,
 *                     POST .../users/me/confirm-email/resend
 *   users_reset.c     POST /api/registration/password/forgot and /reset
 *   mail_queue.c      mail tokens and requests (magenta-mailer sends)
 *   registration.c    main, routes, /health, /ready */
#ifndef MAGENTA_REGISTRATION_H
#define MAGENTA_REGISTRATION_H

#include "account.h"
#include "clientaddr.h"
#include "db.h"
#include "http.h"
#include "token.h"
#include "validate.h"

struct registration {
	struct db db;              /* MagentaUsers */
	struct blocklist *blocked; /* common passwords */
	struct token_ctx tok;      /* verifies access tokens (jwt_public_keys) */
	struct clientaddr_list *proxies; /* trusted_proxies */
};

extern struct registration reg;

/* POST /api/registration/register */
void h_register(struct http_req *r);
/* GET /api/registration/users/me */
void h_me_get(struct http_req *r);
/* PATCH /api/registration/users/me */
void h_me_patch(struct http_req *r);
/* DELETE /api/registration/users/me */
void h_me_delete(struct http_req *r);
/* GET /api/registration/users/{id} */
void h_user_get(struct http_req *r);
/* POST /api/registration/users/me/password */
void h_me_password(struct http_req *r);
/* GET /api/registration/admin/users */
void h_admin_search(struct http_req *r);
/* POST /api/registration/admin/users/{id}/lock|unlock, DELETE .../{id} */
void h_admin_user_post(struct http_req *r);
void h_admin_user_delete(struct http_req *r);
/* POST /api/registration/confirm-email */
void h_confirm_email(struct http_req *r);
/* POST /api/registration/users/me/confirm-email/resend */
void h_confirm_resend(struct http_req *r);
/* POST /api/registration/password/forgot */
void h_password_forgot(struct http_req *r);
/* POST /api/registration/password/reset */
void h_password_reset(struct http_req *r);

/* ---- mail_queue.c ---- */

enum reg_mail { REG_MAIL_CONFIRM, REG_MAIL_RESET };

/* Queue the mail of kind (confirm-email, password-reset) to the user
 * named by who: its id, or with by_email its (lower-cased) address.  A new
 * token (mail_confirm_ttl, mail_reset_ttl) in email_tokens, hashed, and
 * its mail_outbox row, in one statement: in the caller's transaction
 * when it opened one.  1 queued, 0 no such user (the same statements ran),
 * -1 failed with *failed the result (caller PQclear()s). */
int reg_mail_queue(enum reg_mail kind, const char *who, int by_email, PGresult **failed);

/* Spend every open reset token of user (an id): in the caller's
 * transaction, with the change of email or password that makes them
 * stale.  0, or -1 with *failed the result (caller PQclear()s). */
int reg_mail_spend_resets(const char *user, PGresult **failed);

/* The fixed-window counter of key (SQL text) over window seconds (SQL
 * text): one more request counted; RETURNING its count and the seconds
 * left in the window.  Shared by reg_rate_limit and the registration's
 * single statement (register.c). */
#define REG_SQL_RATE(key, window)                                                                  \
	"INSERT INTO mail_rate_limits AS r (key, window_start, count) VALUES (" key ", now(), 1)"  \
	" ON CONFLICT (key) DO UPDATE SET"                                                         \
	"  window_start = CASE WHEN r.window_start <= now() - " window "::integer * interval '1 second'" \
	"   THEN now() ELSE r.window_start END,"                                                   \
	"  count = CASE WHEN r.window_start <= now() - " window "::integer * interval '1 second'"  \
	"   THEN 1 ELSE least(r.count + 1, 1000000000) END"                                        \
	" RETURNING count, greatest(ceil(extract(epoch FROM r.window_start"                        \
	"  + " window "::integer * interval '1 second' - now())), 1)::bigint"

/* The key of the confirmation mails to email (mail_confirm_address_limit),
 * in key (REG_RATE_KEY_MAX). */
#define REG_RATE_KEY_MAX (EMAIL_MAX + 32)
void reg_confirm_key(const char *email, char *key);

/* Count one confirmation mail to email and, with user, one against
 * resend:<user> (mail_resend_limit): 0 within both limits, else the
 * longer wait; -1 failed with *failed the result. */
long reg_confirm_rate(const char *user, const char *email, PGresult **failed);

/* Count one request against the limit of key within mail_rate_window:
 * 0 while at most limit requests came, else the seconds until the window
 * ends (at least 1); -1 failed with *failed the result. */
long reg_rate_limit(const char *key, long limit, PGresult **failed);

/* 429 too_many_requests with Retry-After. */
void reg_reply_rate_limited(struct http_req *r, long retry_after, const char *message);

/* ---- users_caller.c ---- */

/* The caller of r: verify its Bearer access token (reg.tok: signature,
 * algorithm, iss, aud, exp, nbf) and read its user.  0 with *me filled,
 * or -1 after replying: 401 invalid_token for a missing, refused or
 * expired token, a user that no longer exists or is locked; 503/500 when
 * the database fails. */
int reg_caller(struct http_req *r, struct account *me);

/* Re-authentication: password (len bytes, from the body) must be me's.
 * 0 when it is; -1 after replying 403 invalid_password (the failure is
 * counted: after reauth_limit of them within reauth_window, 429
 * too_many_attempts with Retry-After, without verifying), or 503/500. */
int reg_reauth(struct http_req *r, const struct account *me, const char *password, size_t len);

/* Read a again (by its id) after a lost race.  0, or -1 after replying
 * 404 (the user is gone) or 503/500. */
int reg_reload(struct http_req *r, struct account *a);

/* Attempts at a change whose version moved between read and write. */
#define REG_WRITE_ATTEMPTS 3

/* After optimistic write number attempt (from 0) of a lost the race (the
 * version moved): 0 to try again with a read anew, or -1 after replying
 * (409 concurrent_change when the attempts are spent or, with verified
 * not NULL, when the password hash is no longer verified: the password
 * given was checked against the old one; 404, 503/500 from reg_reload). */
int reg_retry(struct http_req *r, struct account *a, int attempt, const char *verified);

/* Answer a failed statement: 503 when the database is unavailable, else
 * log it (as what) and 500. */
void reg_db_failed(struct http_req *r, const PGresult *res, const char *what);

/* The public representation of a user (never the hash nor the stamp). */
struct json_object *reg_user_json(const struct account *a);

/* Reply 200 with the user and ETag: "<version>". */
void reg_reply_user(struct http_req *r, const struct account *a);

/* The version of If-Match: "<version>" (quotes optional, W/ refused):
 * 0 when there is no If-Match, -1 when it is malformed, else the version. */
long long reg_if_match(struct http_req *r);

/* ---- users_rules.c: each adds its error to errors and returns -1 ---- */

/* 3 to 50 of [A-Za-z0-9_-]. */
int rule_username(const char *s, size_t len, struct json_object *errors);
/* A valid address; lc gets it lower-cased. */
int rule_email(const char *s, size_t len, char lc[EMAIL_MAX + 1], struct json_object *errors);
/* The password policy (length, blocklist, not the username or email:
 * either may be NULL), the error under field. */
int rule_password(const char *pw, size_t plen, const char *field, const char *username,
		  size_t ulen, const char *email, size_t elen, struct json_object *errors);
/* confirmPassword equals the password. */
int rule_confirm(const char *pw, size_t plen, const char *confirm, size_t clen,
		 struct json_object *errors);
/* The optional displayName member: 0 with a value (*dn, *dlen), 1 when
 * null or "" (none), 2 when absent, -1 when invalid. */
int rule_display_name(struct json_object *body, const char **dn, size_t *dlen,
		      struct json_object *errors);

#endif
