/* users_caller: who is calling the registration service, and
 * re-authentication by the current password.
 *
 * The caller is known from the access token magenta-auth issued, verified
 * here with its public keys (jwt_public_keys): no call to the auth
 * service, no shared secret.  The user is then read from MagentaUsers, the
 * owner of identities, so a deleted or locked user is refused at once
 * (whatever its token says) and an administrator is one by its row, not by
 * its token's claim. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "pwhash.h"
#include "registration.h"
#include "roles.h"

/* The re-authentication window of user $1 ($2 reauth_limit, $3
 * reauth_window seconds): whether it is exhausted, and the seconds left. */
static struct db_stmt st_reauth_state = { "reauth_state",
	"SELECT failures >= $2::integer AND first_at > now() - make_interval(secs => $3::float8),"
	" ceil(extract(epoch FROM first_at + make_interval(secs => $3::float8) - now()))::bigint"
	" FROM reauth_failures WHERE user_id = $1::uuid", 3, 0 };

/* One more failure of user $1: a window older than $2 seconds starts
 * again. */
static struct db_stmt st_reauth_fail = { "reauth_fail",
	"INSERT INTO reauth_failures AS f (user_id, failures, first_at, last_at)"
	" VALUES ($1::uuid, 1, now(), now())"
	" ON CONFLICT (user_id) DO UPDATE SET"
	"  failures = CASE WHEN f.first_at > now() - make_interval(secs => $2::float8)"
	"   THEN f.failures + 1 ELSE 1 END,"
	"  first_at = CASE WHEN f.first_at > now() - make_interval(secs => $2::float8)"
	"   THEN f.first_at ELSE now() END,"
	"  last_at = now()", 2, 0 };

static struct db_stmt st_reauth_ok = { "reauth_ok",
	"DELETE FROM reauth_failures WHERE user_id = $1::uuid", 1, 0 };

void reg_db_failed(struct http_req *r, const PGresult *res, const char *what)
{
	if (db_unavailable(&reg.db, res)) {
		http_unavailable(r, conf_int(CONF_RETRY_AFTER));
		return;
	}
	db_log_error(what, res);
	http_error(r, 500, "internal_error", "Internal error.", NULL);
}

/* What a client is told about a refused token. */
static const char *token_message(enum token_status st)
{
	switch (st) {
	case TOKEN_EXPIRED: return "The access token has expired.";
	case TOKEN_NOT_YET_VALID: return "The access token is not valid yet.";
	default: return "The access token is invalid.";
	}
}

int reg_caller(struct http_req *r, struct account *me)
{
	struct token_claims c;
	enum token_status st;
	const char *tok;
	size_t len;
	PGresult *failed;
	int rc = http_bearer_token(r, &tok, &len);

	if (rc == 1) {
		http_reply_invalid_token(r, "A Bearer access token is required.");
		return -1;
	}
	st = rc == 0 ? token_verify(&reg.tok, tok, len, time(NULL), 1, &c) : TOKEN_MALFORMED;
	if (st == TOKEN_OK && !uuid_valid(c.sub))
		st = TOKEN_BAD_CLAIMS;
	if (st != TOKEN_OK) {
		log_info("event=token_refused reason=%s", token_status_text(st));
		http_reply_invalid_token(r, token_message(st));
		return -1;
	}
	if (c.client_id[0]) {
		/* a token issued to an OAuth client (docs/oauth2.md) is for
		 * resource servers and userinfo, not to manage the account */
		log_info("event=token_refused reason=client_token client=%s", c.client_id);
		http_error_h(r, 403,
			     "WWW-Authenticate: Bearer realm=\"magenta\", error=\"insufficient_scope\"\r\n",
			     "insufficient_scope",
			     "A token issued to an OAuth client cannot manage the account.", NULL);
		return -1;
	}
	rc = account_load(&reg.db, c.sub, me, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "caller");
		PQclear(failed);
		return -1;
	}
	if (rc == 0) {
		log_info("event=token_refused reason=user_gone user=%s", c.sub);
		http_reply_invalid_token(r, "The account no longer exists.");
		return -1;
	}
	{
		char sst[TOKEN_SST_LEN + 1];
		token_stamp_digest(me->security_stamp, sst);
		if (strlen(c.sst) != TOKEN_SST_LEN ||
		    sodium_memcmp(sst, c.sst, TOKEN_SST_LEN) != 0) {
			log_info("event=token_refused reason=stale_stamp user=%s", c.sub);
			http_reply_invalid_token(
				r, "The access token was issued before a password change.");
			return -1;
		}
	}
	if (account_locked(me)) {
		log_info("event=token_refused reason=locked user=%s", c.sub);
		http_reply_invalid_token(r, "The account is locked.");
		return -1;
	}
	return 0;
}

int reg_reload(struct http_req *r, struct account *a)
{
	char id[UUID_STRLEN + 1];
	PGresult *failed;
	int rc;

	memcpy(id, a->id, sizeof(id));
	rc = account_load(&reg.db, id, a, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "reload");
		PQclear(failed);
		return -1;
	}
	if (rc == 0) {
		http_error(r, 404, "not_found", "No such user.", NULL);
		return -1;
	}
	return 0;
}

int reg_retry(struct http_req *r, struct account *a, int attempt, const char *verified)
{
	if (attempt + 1 >= REG_WRITE_ATTEMPTS) {
		http_error(r, 409, "concurrent_change",
			   "The account is being changed by another request; try again.", NULL);
		return -1;
	}
	if (reg_reload(r, a) != 0)
		return -1;
	if (verified && strcmp(verified, a->password_hash) != 0) {
		http_error(r, 409, "concurrent_change",
			   "The password has just been changed by another request.", NULL);
		return -1;
	}
	return 0;
}

int reg_reauth(struct http_req *r, const struct account *me, const char *password, size_t len)
{
	char limit[24], window[24], hdr[64];
	PGresult *res;
	int ok;

	snprintf(limit, sizeof(limit), "%ld", conf_int(CONF_REAUTH_LIMIT));
	snprintf(window, sizeof(window), "%ld", conf_int(CONF_REAUTH_WINDOW));
	{
		const char *p[] = { me->id, limit, window };
		res = db_exec_stmt(&reg.db, &st_reauth_state, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		reg_db_failed(r, res, "reauth_state");
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't') {
		long wait = atol(PQgetvalue(res, 0, 1));
		snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", wait > 0 ? wait : 1);
		PQclear(res);
		log_info("event=reauth_throttled user=%s", me->id);
		http_error_h(r, 429, hdr, "too_many_attempts",
			     "Too many wrong passwords; try again later.", NULL);
		return -1;
	}
	PQclear(res);

	ok = pwhash_verify(me->password_hash, password, len) == 0;
	{
		const char *p[] = { me->id, window };
		res = ok ? db_exec_stmt(&reg.db, &st_reauth_ok, p, 1)
			 : db_exec_stmt(&reg.db, &st_reauth_fail, p, 1);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		reg_db_failed(r, res, "reauth_record");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (!ok) {
		log_info("event=reauth_failed user=%s", me->id);
		http_error(r, 403, "invalid_password", "The current password is wrong.",
			   "currentPassword");
		return -1;
	}
	return 0;
}

struct json_object *reg_user_json(const struct account *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "username", json_object_new_string(a->username));
	json_object_object_add(o, "email", json_object_new_string(a->email));
	json_object_object_add(o, "emailConfirmed", json_object_new_boolean(a->email_confirmed));
	json_object_object_add(o, "displayName",
			       a->display_name[0] ? json_object_new_string(a->display_name) : NULL);
	json_object_object_add(o, "roles", roles_to_json(a->roles));
	json_object_object_add(o, "lockoutEnd",
			       a->lockout_end[0] ? json_object_new_string(a->lockout_end) : NULL);
	json_object_object_add(o, "createdAt", json_object_new_string(a->created_at));
	json_object_object_add(o, "updatedAt", json_object_new_string(a->updated_at));
	json_object_object_add(o, "version", json_object_new_int64(a->version));
	return o;
}

void reg_reply_user(struct http_req *r, const struct account *a)
{
	char etag[48];

	snprintf(etag, sizeof(etag), "ETag: \"%lld\"\r\n", a->version);
	http_reply(r, 200, etag, reg_user_json(a));
}

long long reg_if_match(struct http_req *r)
{
	const char *h = http_param(r, "HTTP_IF_MATCH");
	char *end;
	long long v;
	size_t n;

	if (!h || !*h)
		return 0;
	n = strlen(h);
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
		h++;
		n -= 2;
	}
	if (n == 0 || n > 18 || h[0] < '1' || h[0] > '9')
		return -1;
	v = strtoll(h, &end, 10);
	if ((size_t)(end - h) != n)
		return -1;
	return v;
}
