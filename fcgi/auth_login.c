/* auth_login: POST /api/auth/login, with per-account lockout and a
 * per-address failure limit kept in the auth database.
 *
 * An account's attempts are counted before the password is checked
 * ("pessimistic"): the first statement of a login adds one to the
 * account's failure counter and reports the lock state in the same row
 * lock, and a success takes it back.  So parallel guesses cannot all slip
 * in before the first failure is written: at most lockout_threshold
 * passwords per account are ever checked in a window.
 *
 * An address's failures are counted after the fact: the first statement
 * only reads them, and a failed login adds one.  A success so writes
 * nothing for its address (no hot row shared by every client behind one
 * NAT), and logins in flight never count against their address; the
 * price is that failures in flight when the limit is reached still get
 * their passwords checked (at most one per busy worker).
 *
 * Trusted devices (OWASP's "device cookies"): each success gives its
 * client a device token bound to the account (login_devices).  A login
 * that presents a live one of its user is counted, before its password
 * is checked as above, against that device alone: the account's lock and
 * the address's limit, which clients without the token can fill, do not
 * hold it back, and a success from it leaves the account's count alone. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "devicetoken.h"
#include "log.h"
#include "metrics.h"
#include "roles.h"
#include "uuid7.h"
#include "validate.h"

/* The one answer for every failed login: unknown user, wrong password,
 * locked or deleted account.  Deliberately not the error shape of every
 * other answer (http_error_h): it is the seed's body, byte for byte the
 * same whatever failed, made once and never assembled per request, so no
 * field, order or length can differ between the cases (docs/auth.md). */
static const char fail_body[] =
    "{\"error\":\"invalid_credentials\",\"message\":\"Invalid credentials.\"}";

#define IDENT_MAX 320 /* longer than any username or email we accept */

/* $1 identifier, $2 client address, $3 ip_fail_limit, $4 lockout_threshold,
 * $5 lockout_base, $6 lockout_max, $7 the SHA-256 of the device token
 * presented (NULL without one).  One row: the address's failures in its
 * current window (0 without one), seconds left in that window, then the
 * user (NULLs when unknown), whether it is under an administrator's lock,
 * whether it is locked by failures (now, or by this attempt), the seconds
 * of a lock this attempt set, and whether the device token is a live one
 * of this user (a trusted device).
 *
 * A trusted device's attempt is counted against that device alone (dv, dl:
 * its row in login_devices, with the account's threshold and windows) and
 * ignores the account's lock and the address's limit; any other attempt
 * is counted against the account (l), unless its address is at its limit:
 * no password will then be checked.  It commits without waiting for the
 * disk (set_config, for this transaction only): a crash may forget the
 * last fraction of a second's attempts, and any later commit that waits
 * for the disk carries them with it (docs/auth.md). */
#define SQL_LOOKUP(match)                                                                          \
	"WITH a AS ("                                                                              \
	" SELECT failures, window_start FROM login_address_failures"                               \
	" WHERE address = $2 AND window_start > now() - interval '1 minute'),"                     \
	" u AS ("                                                                                  \
	" SELECT id, username, email, password_hash, security_stamp, roles, email_confirmed,"      \
	"  lockout_enabled AND coalesce(lockout_end > now(), false) AS admin_locked"               \
	" FROM auth_users WHERE deleted_at IS NULL AND " match "),"                                \
	" dv AS ("                                                                                 \
	" SELECT v.token_hash FROM login_devices v JOIN u ON v.user_id = u.id"                     \
	" WHERE v.token_hash = $7::bytea AND v.security_stamp = u.security_stamp"                  \
	"  AND v.expires_at > now()),"                                                             \
	" dl AS ("                                                                                 \
	" UPDATE login_devices AS c SET" SQL_COUNT_ATTEMPT                                         \
	" FROM dv WHERE c.token_hash = dv.token_hash"                                              \
	"  AND (c.locked_until IS NULL OR c.locked_until <= now())"                                \
	" RETURNING coalesce(c.locked_until > now(), false) AS locked, c.locked_until),"           \
	" l AS ("                                                                                  \
	" INSERT INTO login_lockouts AS c (user_id, failures, locks, locked_until, updated_at)"    \
	" SELECT u.id, 1, 0, NULL, now() FROM u"                                                   \
	" WHERE NOT EXISTS (SELECT 1 FROM dv)"                                                     \
	"  AND coalesce((SELECT failures FROM a), 0) < $3::int"                                    \
	" ON CONFLICT (user_id) DO UPDATE SET" SQL_COUNT_ATTEMPT ", updated_at = now()"            \
	" WHERE c.locked_until IS NULL OR c.locked_until <= now()"                                 \
	" RETURNING coalesce(c.locked_until > now(), false) AS locked, c.locked_until)"            \
	" SELECT coalesce(a.failures, 0),"                                                         \
	"  greatest(ceil(extract(epoch FROM a.window_start + interval '1 minute' - now())), "      \
	"1)::bigint,"                                                                              \
	"  u.id, u.username, u.email, u.password_hash, u.security_stamp, u.admin_locked,"          \
	"  CASE WHEN u.id IS NULL THEN false"                                                      \
	"   WHEN EXISTS (SELECT 1 FROM dv) THEN coalesce((SELECT locked FROM dl), true)"           \
	"   ELSE coalesce((SELECT locked FROM l), true) END,"                                      \
	"  coalesce((SELECT ceil(extract(epoch FROM locked_until - now()))::bigint"                \
	"   FROM dl WHERE locked),"                                                                \
	"   (SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM l WHERE locked))," \
	"  EXISTS (SELECT 1 FROM dv),"                                                             \
	"  set_config('synchronous_commit', 'off', true),"                                         \
	"  u.roles::text, u.email_confirmed"                                                       \
	" FROM (VALUES (1)) one (x) LEFT JOIN a ON true LEFT JOIN u ON true"

/* Case-insensitive, served by the unique indexes on lower(...). */
static struct db_stmt st_by_username = {"login_by_username",
					SQL_LOOKUP("lower(username) = lower($1)"), 7, 0};
static struct db_stmt st_by_email = {"login_by_email", SQL_LOOKUP("lower(email) = lower($1)"), 7,
				     0};

enum {
	L_ADDR_FAILURES,
	L_RETRY,
	L_ID,
	L_USERNAME,
	L_EMAIL,
	L_HASH,
	L_STAMP,
	L_ADMIN_LOCKED,
	L_LOCKED,
	L_LOCKED_FOR,
	L_TRUSTED,
	L_SYNC_COMMIT, /* set_config's answer, unused */
	L_ROLES,
	L_CONFIRMED
};

/* $1 session id, $2 user id, $3 security stamp, $4 remember, $5 address,
 * $6 session_max, $7 refresh token hash, $8 refresh lifetime, $9 whether
 * to wait for the disk (login_sync_commit), $10 the hash of the trusted
 * device token presented (NULL: none), $11 the hash of the new device
 * token (NULL: none is issued), $12 device_ttl, $13 the OAuth client
 * whose session it is and $14 its scope (NULL, NULL for the JSON login).
 * The session, its first refresh token, the device token that replaces
 * the one presented, and the success taking
 * back this attempt: from the device's count on a trusted device (its row
 * is replaced), else from the account's.  A trusted device's success
 * leaves the account's count and lock alone: they are what untrusted
 * clients did.  A user keeps at most DEVICES_MAX device tokens, the newest.
 * Returns the refresh token's seconds to live.
 *
 * Unless $9, it commits without waiting for the disk (set_config, for
 * this transaction only): what a crash can forget is a session opened in
 * its last fraction of a second, whose holder logs in again — a grant,
 * never a revocation.  Whatever later waits for the disk (a rotation, a
 * logout, another user's durable commit) carries it along, because the
 * log is written in order: no rotation of this session can outlive it. */
#define DEVICES_MAX "32"
static const char sql_success[] =
    "WITH s AS ("
    " INSERT INTO sessions (id, user_id, security_stamp, remember, client_addr, expires_at,"
    "  client_id, scope)"
    " SELECT $1::uuid, $2::uuid, $3::text, $4::boolean, $5::text,"
    "  now() + make_interval(secs => $6::int), $13::text, $14::text[]"
    " WHERE $13::text IS NULL OR EXISTS (SELECT 1 FROM oauth_clients WHERE client_id = $13)"
    " RETURNING id, expires_at),"
    " t AS ("
    " INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
    " SELECT s.id, $7::bytea, least(now() + make_interval(secs => $8::int), s.expires_at) FROM s"
    " RETURNING expires_at),"
    " d AS (DELETE FROM login_lockouts WHERE user_id = $2 AND $10::bytea IS NULL),"
    " ov AS (DELETE FROM login_devices WHERE token_hash = $10::bytea AND user_id = $2),"
    " nv AS (INSERT INTO login_devices (token_hash, user_id, security_stamp, expires_at)"
    " SELECT $11::bytea, $2, $3, now() + make_interval(secs => $12::int)"
    " WHERE $11::bytea IS NOT NULL),"
    " cap AS (DELETE FROM login_devices WHERE $11::bytea IS NOT NULL AND token_hash IN ("
    "  SELECT token_hash FROM login_devices WHERE user_id = $2"
    "  AND token_hash IS DISTINCT FROM $10::bytea"
    "  ORDER BY created_at DESC OFFSET " DEVICES_MAX " - 1))"
    " SELECT ceil(extract(epoch FROM t.expires_at - now()))::bigint,"
    "  CASE WHEN NOT $9::bool THEN set_config('synchronous_commit', 'off', true) END FROM t";
static struct db_stmt st_success = {"login_success", sql_success, 14, 0};

/* $1 client address: one more failed login in its window (a new window
 * starts with the first failure a minute or more after the last one's). */
static const char sql_failed[] =
    "INSERT INTO login_address_failures AS f (address, window_start, failures)"
    " VALUES ($1, now(), 1)"
    " ON CONFLICT (address) DO UPDATE SET"
    "  failures = CASE WHEN f.window_start > now() - interval '1 minute'"
    "   THEN f.failures + 1 ELSE 1 END,"
    "  window_start = CASE WHEN f.window_start > now() - interval '1 minute'"
    "   THEN f.window_start ELSE now() END";
static struct db_stmt st_failed = {"login_failed", sql_failed, 1, 0};

/* $1 user id, $2 the hash of the trusted device presented (NULL: none):
 * the right password of an account refused only for its unconfirmed
 * address takes this attempt back as a success does (sql_success), so
 * that it never locks the account. */
static struct db_stmt st_unconfirmed = {
    "login_unconfirmed",
    "WITH d AS (DELETE FROM login_lockouts WHERE user_id = $1::uuid AND $2::bytea IS NULL)"
    " UPDATE login_devices SET failures = 0, locks = 0"
    " WHERE token_hash = $2::bytea AND user_id = $1::uuid",
    2, 0};

/* Old rows nobody needs any more, a bounded number at a time. */
static const char sql_gc[] =
    "WITH a AS (DELETE FROM login_address_failures"
    "  WHERE window_start < now() - interval '10 minutes'),"
    " s AS (DELETE FROM sessions WHERE id IN (SELECT id FROM sessions"
    "  WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'"
    "  LIMIT 500)),"
    " t AS (DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens"
    "  WHERE expires_at < now() - interval '1 day' LIMIT 500)),"
    " v AS (DELETE FROM login_devices WHERE token_hash IN (SELECT token_hash FROM login_devices"
    "  WHERE expires_at < now() LIMIT 500))"
    " SELECT 1";

/* Check the body's members; every problem goes into errors. */
static void login_validate(struct json_object *body, struct auth_login_input *in,
			   struct json_object *errors)
{
	size_t pmax = (size_t)conf_int(CONF_PASSWORD_MAX) * 4; /* code points of up to 4 bytes */
	const char *dev;
	size_t dlen;
	int rc;

	/* Registration's rules, before any lookup: lower() in the lookup
	 * would fold what they refuse ("al\u0130ce" matches "alice"). */
	if (http_need_str(body, "usernameOrEmail", "Username or email",
			  HTTP_STR_NONEMPTY | HTTP_STR_NO_NUL, IDENT_MAX, &in->ident, &in->ilen,
			  errors) == 0 &&
	    !(memchr(in->ident, '@', in->ilen) ? valid_email(in->ident, in->ilen)
					       : valid_username(in->ident, in->ilen)))
		http_errors_add(
		    errors, "usernameOrEmail", "invalid_format",
		    "Username or email must be a username (3 to 50 characters: letters, "
		    "digits, '_' or '-') or an email address.");
	http_need_str(body, "password", "Password", HTTP_STR_NONEMPTY, pmax, &in->password,
		      &in->plen, errors);
	in->remember = 0;
	rc = json_get_bool(body, "rememberMe", &in->remember);
	if (rc < 0)
		http_errors_add(errors, "rememberMe", "invalid_type",
				"rememberMe must be a boolean.");
	in->has_device = 0;
	rc = json_get_str(body, "deviceToken", &dev, &dlen);
	if (rc < 0)
		http_errors_add(errors, "deviceToken", "invalid_type",
				"deviceToken must be a string.");
	else if (rc == 0 && refresh_parse(dev, dlen, in->device) != 0)
		http_errors_add(errors, "deviceToken", "invalid_format",
				"deviceToken must be a device token from a login answer.");
	else if (rc == 0)
		in->has_device = 1;
}

/* 401 with the fixed body. */
static void reply_invalid(struct http_req *r)
{
	http_reply_text(r, 401, NULL, NULL, fail_body, sizeof(fail_body) - 1);
}

/* 429 with Retry-After. */
static void reply_throttled(struct http_req *r, long retry)
{
	char hdr[48];

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry > 0 ? retry : 1);
	http_error_h(r, 429, hdr, "too_many_requests",
		     "Too many failed logins from this address; try again later.", NULL);
}

/* One more failure for addr.  Retried on a connection found broken: at
 * worst it counts twice.  A failure to count is logged; the answer is the
 * same 401. */
static void count_failure(const char *addr)
{
	const char *p[] = {addr};
	PGresult *res = db_exec_stmt(&auth.db, &st_failed, p, 1);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_log_error("login_count_failure", res);
	PQclear(res);
}

/* Create the session (and, for the JSON login, a new device token that
 * replaces the trusted one whose hash is device_hex, or NULL) for out->u. */
enum auth_outcome auth_login_session(struct http_req *r, const struct auth_login_input *in,
				     const char *addr, const char *device_hex,
				     struct auth_login_result *out)
{
	char hash_hex[2 * REFRESH_HASHBYTES + 3], dhash_hex[2 * REFRESH_HASHBYTES + 3];
	char smax[24], ttl[24], dttl[24];
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	PGresult *res;
	int device = !in->client_id; /* OAuth clients have no device tokens */
	unsigned roles;

	/* a role roles.h does not know: no session that no token could carry */
	if (roles_from_pg(out->u.roles, &roles) != 0) {
		log_error("event=login_refused user=%s msg=\"unknown role in roles\"", out->u.id);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		return AUTH_REPLIED;
	}
	uuid7_new(out->sid);
	refresh_new(out->refresh, raw);
	refresh_hash(hash, raw);
	auth_bytea(hash_hex, hash, sizeof(hash));
	if (device) {
		refresh_new(out->device, raw); /* made and hashed as a refresh token is */
		refresh_hash(hash, raw);
		auth_bytea(dhash_hex, hash, sizeof(hash));
	}
	sodium_memzero(raw, sizeof(raw));
	snprintf(smax, sizeof(smax), "%ld", conf_int(CONF_SESSION_MAX));
	snprintf(ttl, sizeof(ttl), "%ld",
		 conf_int(in->remember ? CONF_REFRESH_TTL_REMEMBER : CONF_REFRESH_TTL));
	snprintf(dttl, sizeof(dttl), "%ld", conf_int(CONF_DEVICE_TTL));
	{
		const char *p[] = {out->sid,
				   out->u.id,
				   out->u.stamp,
				   in->remember ? "t" : "f",
				   addr,
				   smax,
				   hash_hex,
				   ttl,
				   conf_bool(CONF_LOGIN_SYNC_COMMIT) ? "t" : "f",
				   device_hex,
				   device ? dhash_hex : NULL,
				   dttl,
				   in->client_id,
				   in->client_id ? in->scope_pg : NULL};
		/* not retried: a lost connection may have committed */
		res = db_exec_stmt(&auth.db, &st_success, p, 0);
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0 && in->client_id) {
		/* the client was removed while this request ran (no session
		 * was made for it: $13's EXISTS) */
		log_info("event=login_refused reason=client_removed client=%s", in->client_id);
		PQclear(res);
		return AUTH_REFUSED;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		auth_db_failed(r, res, "login_session");
		PQclear(res);
		return AUTH_REPLIED;
	}
	out->refresh_expires_in = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	log_info("event=login_ok user=%s session=%s addr=%s remember=%d trusted=%d%s%s",
		 out->u.id, out->sid, addr, in->remember, device_hex != NULL,
		 in->client_id ? " client=" : "", in->client_id ? in->client_id : "");
	if (randombytes_uniform(64) == 0) {
		PGresult *gc = db_exec(&auth.db, sql_gc, 0, NULL, 0);
		if (PQresultStatus(gc) != PGRES_TUPLES_OK)
			db_log_error("auth_gc", gc);
		PQclear(gc);
	}
	return AUTH_OK;
}

void auth_login_result_clear(struct auth_login_result *out)
{
	PQclear(out->user);
	sodium_memzero(out, sizeof(*out));
}

enum auth_outcome auth_login_attempt(struct http_req *r, const struct auth_login_input *in,
				     struct auth_login_result *out)
{
	char addr[CLIENTADDR_STRLEN], limit[24], thr[24], base[24], max[24];
	char dhash_hex[2 * REFRESH_HASHBYTES + 3];
	unsigned char dhash[REFRESH_HASHBYTES];
	PGresult *res;
	const char *hash, *why;
	int known, ok, trusted;
	enum auth_outcome rc;

	memset(out, 0, sizeof(*out));
	if (in->has_device) {
		refresh_hash(dhash, in->device);
		auth_bytea(dhash_hex, dhash, sizeof(dhash));
	}
	clientaddr_get(auth.proxies, r->remote_addr, http_param(r, "HTTP_X_FORWARDED_FOR"), addr);
	snprintf(limit, sizeof(limit), "%ld", conf_int(CONF_IP_FAIL_LIMIT));
	snprintf(thr, sizeof(thr), "%ld", conf_int(CONF_LOCKOUT_THRESHOLD));
	snprintf(base, sizeof(base), "%ld", conf_int(CONF_LOCKOUT_BASE));
	snprintf(max, sizeof(max), "%ld", conf_int(CONF_LOCKOUT_MAX));
	{
		const char *p[] = {
		    in->ident, addr, limit, thr, base, max, in->has_device ? dhash_hex : NULL};
		/* usernames cannot hold '@', emails always do.  Retried on a
		 * connection found broken (a database restart): at worst one
		 * attempt is counted twice. */
		res = db_exec_stmt(&auth.db,
				   memchr(in->ident, '@', in->ilen) ? &st_by_email : &st_by_username,
				   p, 1);
	}
	out->user = res;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		auth_db_failed(r, res, "login_lookup");
		return AUTH_REPLIED;
	}
	/* a trusted device is not refused for what untrusted clients did */
	trusted = PQgetvalue(res, 0, L_TRUSTED)[0] == 't';
	if (!trusted && atol(PQgetvalue(res, 0, L_ADDR_FAILURES)) >= conf_int(CONF_IP_FAIL_LIMIT)) {
		log_warnx("event=login_throttled addr=%s", addr);
		out->retry_after = atol(PQgetvalue(res, 0, L_RETRY));
		if (out->retry_after < 1)
			out->retry_after = 1;
		metrics_login(METRICS_LOGIN_THROTTLED);
		return AUTH_THROTTLED;
	}

	/* Always one argon2id verification, against a dummy hash of the same
	 * cost for an unknown user, so the time does not tell. */
	known = !PQgetisnull(res, 0, L_ID);
	hash = known ? PQgetvalue(res, 0, L_HASH) : auth.dummy_hash;
	ok = pwhash_verify(hash, in->password, in->plen) == 0;

	if (!known)
		why = "unknown_user";
	else if (PQgetvalue(res, 0, L_LOCKED)[0] == 't')
		/* whatever the password: it was not really checked */
		why = trusted ? "device_locked" : "locked";
	else if (!ok)
		why = "bad_password";
	else if (PQgetvalue(res, 0, L_ADMIN_LOCKED)[0] == 't')
		why = "admin_locked";
	else if (conf_bool(CONF_LOGIN_REQUIRE_CONFIRMED_EMAIL) &&
		 PQgetvalue(res, 0, L_CONFIRMED)[0] != 't')
		why = "email_not_confirmed"; /* told only to who knows the password */
	else
		why = NULL;
	out->unconfirmed = why && strcmp(why, "email_not_confirmed") == 0;
	if (why) {
		if (known)
			log_info("event=login_failed reason=%s user=%s addr=%s trusted=%d", why,
				 PQgetvalue(res, 0, L_ID), addr, trusted);
		else
			log_info("event=login_failed reason=%s addr=%s", why, addr);
		if (!PQgetisnull(res, 0, L_LOCKED_FOR))
			log_warnx("event=%s user=%s seconds=%s addr=%s",
				  trusted ? "device_locked" : "account_locked",
				  PQgetvalue(res, 0, L_ID), PQgetvalue(res, 0, L_LOCKED_FOR), addr);
		/* the address's limit is for untrusted clients, who alone
		 * are held by it */
		if (!trusted && !out->unconfirmed)
			count_failure(addr);
		if (out->unconfirmed) {
			const char *up[2] = {PQgetvalue(res, 0, L_ID), trusted ? dhash_hex : NULL};
			PGresult *ur = db_exec_stmt(&auth.db, &st_unconfirmed, up, 1);
			if (PQresultStatus(ur) != PGRES_COMMAND_OK)
				db_log_error("login_unconfirmed", ur);
			PQclear(ur);
		}
		metrics_login(strcmp(why, "unknown_user") == 0 || strcmp(why, "bad_password") == 0
				  ? METRICS_LOGIN_FAILED
				  : METRICS_LOGIN_LOCKED);
		return AUTH_REFUSED;
	}
	out->u = (struct auth_user){PQgetvalue(res, 0, L_ID), PQgetvalue(res, 0, L_USERNAME),
				    PQgetvalue(res, 0, L_EMAIL), PQgetvalue(res, 0, L_ROLES),
				    PQgetvalue(res, 0, L_STAMP)};
	/* an enrolled user's session waits for the second factor */
	rc = auth_mfa_gate(r, in, trusted ? dhash_hex : NULL, out);
	if (rc == AUTH_OK)
		rc = auth_login_session(r, in, addr, trusted ? dhash_hex : NULL, out);
	if (rc == AUTH_OK) {
		metrics_login(METRICS_LOGIN_OK);
		metrics_token(METRICS_TOKEN_REFRESH);
	}
	return rc;
}

/* POST /api/auth/login */
void h_login(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array();
	struct auth_login_input in;
	struct auth_login_result out;
	char cookie[512] = "";
	int use_cookie = conf_bool(CONF_DEVICE_COOKIE);

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	login_validate(body, &in, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	/* the body's deviceToken first; the cookie only when it is in use */
	if (!in.has_device && use_cookie &&
	    devicetoken_from_cookie(http_param(r, "HTTP_COOKIE"), in.device) == 0)
		in.has_device = 1;
	switch (auth_login_attempt(r, &in, &out)) {
	case AUTH_REFUSED:
		if (out.unconfirmed)
			http_error(r, 403, "email_not_confirmed",
				   "The email address of the account is not confirmed yet: follow "
				   "the link of the confirmation mail.",
				   NULL);
		else
			reply_invalid(r);
		break;
	case AUTH_THROTTLED:
		reply_throttled(r, out.retry_after);
		break;
	case AUTH_MFA_REQUIRED:
		auth_mfa_reply_required(r, out.mfa_ticket);
		break;
	case AUTH_OK:
		if (use_cookie && devicetoken_set_cookie(cookie, sizeof(cookie), out.device,
							 conf_int(CONF_DEVICE_TTL)) != 0) {
			log_error("event=device_cookie_failed user=%s", out.u.id);
			http_error(r, 500, "internal_error", "Internal error.", NULL);
			break;
		}
		/* the refresh cookie after the device's; the body keeps its
		 * refreshToken (the seed's answer: docs/auth.md) */
		if (conf_bool(CONF_REFRESH_COOKIE)) {
			size_t n = strlen(cookie);

			if (auth_refresh_cookie_line(cookie + n, sizeof(cookie) - n, out.refresh,
						     out.refresh_expires_in, in.remember) != 0) {
				log_error("event=refresh_cookie_failed user=%s", out.u.id);
				http_error(r, 500, "internal_error", "Internal error.", NULL);
				break;
			}
		}
		/* with the device cookie, the device token is kept out of reach
		 * of page scripts: not in the body too */
		auth_reply_login(r, &out.u, out.sid, out.refresh, out.refresh_expires_in,
				 use_cookie ? NULL : out.device, *cookie ? cookie : NULL);
		break;
	case AUTH_REPLIED:
		break;
	}
out:
	sodium_memzero(in.device, sizeof(in.device));
	sodium_memzero(cookie, sizeof(cookie));
	auth_login_result_clear(&out);
	json_object_put(errors);
	json_put_wiped(body); /* json-c's copy of the password */
}
