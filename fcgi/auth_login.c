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
 * their passwords checked (at most one per busy worker). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "log.h"
#include "service.h"
#include "uuid7.h"

/* The one answer for every failed login: unknown user, wrong password,
 * locked or deleted account. */
static const char fail_body[] =
    "{\"error\":\"invalid_credentials\",\"message\":\"Invalid credentials.\"}";

#define IDENT_MAX 320 /* longer than any username or email we accept */

/* $1 identifier, $2 client address, $3 ip_fail_limit, $4 lockout_threshold,
 * $5 lockout_base, $6 lockout_max.  One row: the address's failures in its
 * current window (0 without one), seconds left in that window, then the
 * user (NULLs when unknown), whether it is under an administrator's lock,
 * whether it is locked by failures (now, or by this attempt), and the
 * seconds of a lock this attempt set.  An address at its limit counts
 * nothing against the account: no password will be checked.  It commits
 * without waiting for the disk (set_config, for this transaction only):
 * a crash may forget the last fraction of a second's attempts, and any
 * later commit that waits for the disk carries them with it (docs/auth.md). */
#define SQL_LOOKUP(match)                                                                          \
	"WITH a AS ("                                                                              \
	" SELECT failures, window_start FROM login_address_failures"                               \
	" WHERE address = $2 AND window_start > now() - interval '1 minute'),"                     \
	" u AS ("                                                                                  \
	" SELECT id, username, email, password_hash, security_stamp,"                              \
	"  lockout_enabled AND coalesce(lockout_end > now(), false) AS admin_locked"               \
	" FROM auth_users WHERE deleted_at IS NULL AND " match "),"                                \
	" l AS ("                                                                                  \
	" INSERT INTO login_lockouts AS l (user_id, failures, locks, locked_until, updated_at)"    \
	" SELECT u.id, 1, 0, NULL, now() FROM u"                                                   \
	" WHERE coalesce((SELECT failures FROM a), 0) < $3::int"                                   \
	" ON CONFLICT (user_id) DO UPDATE SET"                                                     \
	"  failures = CASE WHEN l.failures >= $4::int THEN 0 ELSE l.failures + 1 END,"             \
	"  locks = CASE WHEN l.failures >= $4::int THEN l.locks + 1 ELSE l.locks END,"             \
	"  locked_until = CASE WHEN l.failures >= $4::int THEN now() + make_interval(secs =>"      \
	"   least($5::float8 * power(2::float8, least(l.locks, 30)), $6::float8))"                 \
	"   ELSE l.locked_until END,"                                                              \
	"  updated_at = now()"                                                                     \
	" WHERE l.locked_until IS NULL OR l.locked_until <= now()"                                 \
	" RETURNING coalesce(locked_until > now(), false) AS locked, locked_until)"                \
	" SELECT coalesce(a.failures, 0),"                                                         \
	"  greatest(ceil(extract(epoch FROM a.window_start + interval '1 minute' - now())), "      \
	"1)::bigint,"                                                                              \
	"  u.id, u.username, u.email, u.password_hash, u.security_stamp, u.admin_locked,"          \
	"  CASE WHEN u.id IS NULL THEN false ELSE coalesce((SELECT locked FROM l), true) END,"     \
	"  (SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM l WHERE locked),"   \
	"  set_config('synchronous_commit', 'off', true)"                                          \
	" FROM (VALUES (1)) one (x) LEFT JOIN a ON true LEFT JOIN u ON true"

/* Case-insensitive, served by the unique indexes on lower(...). */
static struct db_stmt st_by_username = {"login_by_username",
					SQL_LOOKUP("lower(username) = lower($1)"), 6, 0};
static struct db_stmt st_by_email = {"login_by_email", SQL_LOOKUP("lower(email) = lower($1)"), 6,
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
	L_LOCKED_FOR
};

/* $1 session id, $2 user id, $3 security stamp, $4 remember, $5 address,
 * $6 session_max, $7 refresh token hash, $8 refresh lifetime, $9 whether
 * to wait for the disk (login_sync_commit).  The session, its first
 * refresh token, and the success taking back this attempt from the
 * account's counter.  Returns the refresh token's seconds to live.
 *
 * Unless $9, it commits without waiting for the disk (set_config, for
 * this transaction only): what a crash can forget is a session opened in
 * its last fraction of a second, whose holder logs in again — a grant,
 * never a revocation.  Whatever later waits for the disk (a rotation, a
 * logout, another user's durable commit) carries it along, because the
 * log is written in order: no rotation of this session can outlive it. */
static const char sql_success[] =
    "WITH s AS ("
    " INSERT INTO sessions (id, user_id, security_stamp, remember, client_addr, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))"
    " RETURNING id, expires_at),"
    " t AS ("
    " INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
    " SELECT s.id, $7::bytea, least(now() + make_interval(secs => $8::int), s.expires_at) FROM s"
    " RETURNING expires_at),"
    " d AS (DELETE FROM login_lockouts WHERE user_id = $2)"
    " SELECT ceil(extract(epoch FROM t.expires_at - now()))::bigint,"
    "  CASE WHEN NOT $9::bool THEN set_config('synchronous_commit', 'off', true) END FROM t";
static struct db_stmt st_success = {"login_success", sql_success, 9, 0};

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

/* Old rows nobody needs any more, a bounded number at a time. */
static const char sql_gc[] =
    "WITH a AS (DELETE FROM login_address_failures"
    "  WHERE window_start < now() - interval '10 minutes'),"
    " s AS (DELETE FROM sessions WHERE id IN (SELECT id FROM sessions"
    "  WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'"
    "  LIMIT 500)),"
    " t AS (DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens"
    "  WHERE expires_at < now() - interval '1 day' LIMIT 500))"
    " SELECT 1";

struct login_input {
	const char *ident, *password;
	size_t ilen, plen;
	int remember;
};

/* Check the body's members; every problem goes into errors. */
static void login_validate(struct json_object *body, struct login_input *in,
			   struct json_object *errors)
{
	size_t pmax = (size_t)conf_int(CONF_PASSWORD_MAX) * 4; /* code points of up to 4 bytes */
	int rc;

	http_need_str(body, "usernameOrEmail", "Username or email",
		      HTTP_STR_NONEMPTY | HTTP_STR_NO_NUL, IDENT_MAX, &in->ident, &in->ilen, errors);
	http_need_str(body, "password", "Password", HTTP_STR_NONEMPTY, pmax, &in->password,
		      &in->plen, errors);
	in->remember = 0;
	rc = json_get_bool(body, "rememberMe", &in->remember);
	if (rc < 0)
		http_errors_add(errors, "rememberMe", "invalid_type",
				"rememberMe must be a boolean.");
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
	struct json_object *errors = json_object_new_array(), *body = json_object_new_object();
	const char *msg = "Too many failed logins from this address; try again later.";

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry > 0 ? retry : 1);
	http_errors_add(errors, NULL, "too_many_requests", msg);
	json_object_object_add(body, "success", json_object_new_boolean(0));
	json_object_object_add(body, "error", json_object_new_string("too_many_requests"));
	json_object_object_add(body, "message", json_object_new_string(msg));
	json_object_object_add(body, "errors", errors);
	http_reply(r, 429, hdr, body);
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

/* Create the session and answer with the tokens. */
static void login_success(struct http_req *r, PGresult *user, const char *addr, int remember)
{
	char sid[UUID_STRLEN + 1], refresh[REFRESH_STRLEN + 1], hash_hex[2 * REFRESH_HASHBYTES + 3];
	char smax[24], ttl[24];
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	struct auth_user u = {PQgetvalue(user, 0, L_ID), PQgetvalue(user, 0, L_USERNAME),
			      PQgetvalue(user, 0, L_EMAIL)};
	PGresult *res;

	uuid7_new(sid);
	refresh_new(refresh, raw);
	refresh_hash(hash, raw);
	sodium_memzero(raw, sizeof(raw));
	auth_bytea(hash_hex, hash, sizeof(hash));
	snprintf(smax, sizeof(smax), "%ld", conf_int(CONF_SESSION_MAX));
	snprintf(ttl, sizeof(ttl), "%ld",
		 conf_int(remember ? CONF_REFRESH_TTL_REMEMBER : CONF_REFRESH_TTL));
	{
		const char *p[] = {
		    sid,      u.id, PQgetvalue(user, 0, L_STAMP), remember ? "t" : "f", addr, smax,
		    hash_hex, ttl, conf_bool(CONF_LOGIN_SYNC_COMMIT) ? "t" : "f"};
		/* not retried: a lost connection may have committed */
		res = db_exec_stmt(&auth.db, &st_success, p, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		auth_db_failed(r, res, "login_session");
		goto out;
	}
	log_info("event=login_ok user=%s session=%s addr=%s remember=%d", u.id, sid, addr,
		 remember);
	auth_reply_tokens(r, &u, sid, refresh, atol(PQgetvalue(res, 0, 0)));
	if (randombytes_uniform(64) == 0) {
		PGresult *gc = db_exec(&auth.db, sql_gc, 0, NULL, 0);
		if (PQresultStatus(gc) != PGRES_TUPLES_OK)
			db_log_error("auth_gc", gc);
		PQclear(gc);
	}
out:
	sodium_memzero(refresh, sizeof(refresh));
	PQclear(res);
}

/* POST /api/auth/login */
void h_login(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array();
	struct login_input in;
	char addr[CLIENTADDR_STRLEN], limit[24], thr[24], base[24], max[24];
	PGresult *res = NULL;
	const char *hash, *why;
	int known, ok;

	service_cpu_bound(); /* one argon2id verification, whatever the answer */
	memset(&in, 0, sizeof(in));
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	login_validate(body, &in, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	clientaddr_get(auth.proxies, r->remote_addr, http_param(r, "HTTP_X_FORWARDED_FOR"), addr);
	snprintf(limit, sizeof(limit), "%ld", conf_int(CONF_IP_FAIL_LIMIT));
	snprintf(thr, sizeof(thr), "%ld", conf_int(CONF_LOCKOUT_THRESHOLD));
	snprintf(base, sizeof(base), "%ld", conf_int(CONF_LOCKOUT_BASE));
	snprintf(max, sizeof(max), "%ld", conf_int(CONF_LOCKOUT_MAX));
	{
		const char *p[] = {in.ident, addr, limit, thr, base, max};
		/* usernames cannot hold '@', emails always do.  Retried on a
		 * connection found broken (a database restart): at worst one
		 * attempt is counted twice. */
		res = db_exec_stmt(&auth.db,
				   memchr(in.ident, '@', in.ilen) ? &st_by_email : &st_by_username,
				   p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		auth_db_failed(r, res, "login_lookup");
		goto out;
	}
	if (atol(PQgetvalue(res, 0, L_ADDR_FAILURES)) >= conf_int(CONF_IP_FAIL_LIMIT)) {
		log_warnx("event=login_throttled addr=%s", addr);
		reply_throttled(r, atol(PQgetvalue(res, 0, L_RETRY)));
		goto out;
	}

	/* Always one argon2id verification, against a dummy hash of the same
	 * cost for an unknown user, so the time does not tell. */
	known = !PQgetisnull(res, 0, L_ID);
	hash = known ? PQgetvalue(res, 0, L_HASH) : auth.dummy_hash;
	ok = pwhash_verify(hash, in.password, in.plen) == 0;

	if (!known)
		why = "unknown_user";
	else if (PQgetvalue(res, 0, L_LOCKED)[0] == 't')
		why = "locked"; /* whatever the password: it was not really checked */
	else if (!ok)
		why = "bad_password";
	else if (PQgetvalue(res, 0, L_ADMIN_LOCKED)[0] == 't')
		why = "admin_locked";
	else
		why = NULL;
	if (why) {
		if (known)
			log_info("event=login_failed reason=%s user=%s addr=%s", why,
				 PQgetvalue(res, 0, L_ID), addr);
		else
			log_info("event=login_failed reason=%s addr=%s", why, addr);
		if (!PQgetisnull(res, 0, L_LOCKED_FOR))
			log_warnx("event=account_locked user=%s seconds=%s addr=%s",
				  PQgetvalue(res, 0, L_ID), PQgetvalue(res, 0, L_LOCKED_FOR), addr);
		count_failure(addr);
		reply_invalid(r);
		goto out;
	}
	login_success(r, res, addr, in.remember);
out:
	PQclear(res);
	json_object_put(errors);
	json_put_wiped(body); /* json-c's copy of the password */
}
