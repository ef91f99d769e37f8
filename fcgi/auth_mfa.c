/* auth_mfa: the TOTP second factor (RFC 6238).
 *
 *   GET    /api/auth/mfa/totp          enrolled or not, recovery codes left
 *   POST   /api/auth/mfa/totp          {password}: a new secret and its
 *                                      otpauth:// URI (not yet in use)
 *   POST   /api/auth/mfa/totp/confirm  {code}: the first code turns it on
 *                                      and answers 10 recovery codes, once
 *   DELETE /api/auth/mfa/totp          {password, code}: turn it off (also
 *   POST   /api/auth/mfa/totp/disable   for clients that send no DELETE body)
 *   POST   /api/auth/mfa/verify        {ticket, code}: the second half of a
 *                                      login that answered mfa_required
 *
 * The secret is the auth service's own data (mfa_totp), sealed under
 * mfa_key_file; it never travels in an event (docs/auth.md, "Second
 * factor").  A code is accepted once: the step it matched is stored and no
 * code of that step or an earlier one is accepted again.  A code, a
 * password here, counts as an attempt of the account (or of the trusted
 * device the login came from) before it is checked, as a login's password
 * does, and a right one takes it back: the lockout holds the second
 * factor's guesses as it holds the password's, parallel ones too. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "devicetoken.h"
#include "log.h"
#include "metrics.h"
#include "totp.h"

#define RECOVERY_CODES 10
#define RECOVERY_RAW 10	    /* 80 bits each */
#define RECOVERY_CHARS 16   /* their base32, lower case */
#define RECOVERY_SHOWN 19   /* xxxx-xxxx-xxxx-xxxx */
#define TICKET_ATTEMPTS "5" /* codes tried with one ticket */
#define SEALED_MAX MFA_SEALBYTES(TOTP_SECRETBYTES)
#define HASH_HEX (2 * MFA_CODE_HASHBYTES + 1)

/* ---------------------------------------------------------------- SQL */

/* A failure counted with the parameters $2 lockout_threshold, $3
 * lockout_base, $4 lockout_max. */
#define SQL_COUNT_ATTEMPT_234 SQL_COUNT_ATTEMPT_AT("$2", "$3", "$4")

/* A pending enrolment (secret made, not yet confirmed) lives this long
 * and allows this many codes; then it is discarded: enrol again. */
#define CONFIRM_TTL "600"
#define CONFIRM_ATTEMPTS "5"
#define SQL_PENDING_LIVE                                                                           \
	" m.confirmed_at IS NULL AND m.created_at > now() - make_interval(secs => " CONFIRM_TTL    \
	") AND m.confirm_attempts < " CONFIRM_ATTEMPTS

/* $1 session id, $2 user id: the caller's user when the session is alive,
 * and its TOTP state (pending: an enrolment that can still be confirmed). */
static struct db_stmt st_caller = {
    "mfa_caller",
    "SELECT u.id, u.password_hash, u.username,"
    "  m.secret_sealed, m.confirmed_at IS NOT NULL, coalesce(m.last_used_step, -1),"
    "  (SELECT count(*) FROM mfa_recovery_codes c WHERE c.user_id = u.id AND c.used_at IS NULL),"
    "  coalesce(" SQL_PENDING_LIVE ", false)"
    " FROM sessions s JOIN auth_users u ON u.id = s.user_id"
    " LEFT JOIN mfa_totp m ON m.user_id = u.id"
    " WHERE s.id = $1 AND s.user_id = $2 AND" AUTH_SESSION_LIVE,
    2, 0};
enum { C_ID, C_HASH, C_USERNAME, C_SEALED, C_CONFIRMED, C_LAST, C_LEFT, C_PENDING };

/* $1 user, $2 sealed secret: a new pending enrolment (replacing a pending
 * one); no row when one is confirmed. */
static struct db_stmt st_enrol = {
    "mfa_enrol",
    "INSERT INTO mfa_totp AS m (user_id, secret_sealed) VALUES ($1, $2::bytea)"
    " ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,"
    "  last_used_step = NULL, created_at = now(), confirm_attempts = 0"
    " WHERE m.confirmed_at IS NULL RETURNING 1",
    2, 0};

/* $1 user: one more code tried on the live pending enrolment, counted
 * before it is checked (parallel tries cannot pass the limit): its sealed
 * secret and the codes tried with this one.  No row: none is pending, or
 * it expired or used up its codes, and a dead one is removed. */
static struct db_stmt st_confirm_try = {
    "mfa_confirm_try",
    "WITH t AS (UPDATE mfa_totp AS m SET confirm_attempts = m.confirm_attempts + 1"
    "  WHERE m.user_id = $1 AND" SQL_PENDING_LIVE " RETURNING m.secret_sealed, m.confirm_attempts),"
    " g AS (DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NULL"
    "  AND NOT EXISTS (SELECT 1 FROM t))"
    " SELECT secret_sealed, confirm_attempts FROM t",
    1, 0};

/* $1 user, $2 sealed secret: discard the pending enrolment whose last
 * code was wrong. */
static struct db_stmt st_confirm_discard = {
    "mfa_confirm_discard",
    "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NULL"
    " AND secret_sealed = $2::bytea",
    2, 0};

/* $1 user, $2 step used, $3 the sealed secret the code was checked
 * against, $4 the recovery codes' hashes (text[] of hex): confirm, and
 * replace the recovery codes. */
static struct db_stmt st_confirm = {
    "mfa_confirm",
    "WITH t AS (UPDATE mfa_totp SET confirmed_at = now(), last_used_step = $2::bigint"
    "  WHERE user_id = $1 AND confirmed_at IS NULL AND secret_sealed = $3::bytea"
    "  RETURNING user_id),"
    " d AS (DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM t)),"
    " i AS (INSERT INTO mfa_recovery_codes (user_id, code_hash)"
    "  SELECT t.user_id, decode(h, 'hex') FROM t, unnest($4::text[]) h)"
    " SELECT count(*) FROM t",
    4, 0};

/* $1 user, $2 step: spend a TOTP step (single use, race-free). */
static struct db_stmt st_use_step = {"mfa_use_step",
				     "UPDATE mfa_totp SET last_used_step = $2::bigint"
				     " WHERE user_id = $1 AND confirmed_at IS NOT NULL"
				     "  AND coalesce(last_used_step, -1) < $2::bigint RETURNING 1",
				     2, 0};

/* $1 user, $2 the presented code's hashes under each key (text[] of hex):
 * spend a recovery code. */
static struct db_stmt st_use_recovery = {
    "mfa_use_recovery",
    "UPDATE mfa_recovery_codes SET used_at = now()"
    " WHERE user_id = $1 AND used_at IS NULL"
    "  AND code_hash IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) h) RETURNING 1",
    2, 0};

/* $1 user: the second factor off; the account's failures forgotten, as a
 * login's success forgets them (the password and a code were given). */
static struct db_stmt st_disable = {"mfa_disable",
				    "WITH c AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1),"
				    " t AS (DELETE FROM mfa_tickets WHERE user_id = $1),"
				    " l AS (DELETE FROM login_lockouts WHERE user_id = $1)"
				    " DELETE FROM mfa_totp WHERE user_id = $1",
				    1, 0};

/* $1 user, $2 lockout_threshold, $3 lockout_base, $4 lockout_max: one
 * more attempt on the account, counted before the password is checked
 * (as a login counts it, so that parallel guesses all count), and whether
 * the account is locked now (by earlier failures or this attempt) with
 * the seconds left. */
static struct db_stmt st_pw_attempt = {
    "mfa_password_attempt",
    "WITH l AS (INSERT INTO login_lockouts AS c (user_id, failures, locks, locked_until,"
    "  updated_at) VALUES ($1::uuid, 1, 0, NULL, now())"
    "  ON CONFLICT (user_id) DO UPDATE SET" SQL_COUNT_ATTEMPT_234 ", updated_at = now()"
    "  WHERE c.locked_until IS NULL OR c.locked_until <= now()"
    "  RETURNING coalesce(c.locked_until > now(), false) AS locked, c.locked_until)"
    " SELECT coalesce((SELECT locked FROM l), true),"
    "  greatest(coalesce("
    "   (SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM l WHERE locked),"
    "   (SELECT ceil(extract(epoch FROM k.locked_until - now()))::bigint"
    "    FROM login_lockouts k WHERE k.user_id = $1::uuid)), 1)",
    4, 0};

/* $1 user: take back the attempt st_pw_attempt counted (the password was
 * right). */
static struct db_stmt st_pw_takeback = {"mfa_password_takeback",
					"UPDATE login_lockouts SET failures = failures - 1,"
					" updated_at = now() WHERE user_id = $1 AND failures > 0",
					1, 0};

/* $1 client address: one more failure in its window, as a failed login
 * counts it (untrusted clients only). */
static struct db_stmt st_count_address = {
    "mfa_count_address",
    "INSERT INTO login_address_failures AS f (address, window_start, failures)"
    " VALUES ($1, now(), 1)"
    " ON CONFLICT (address) DO UPDATE SET"
    "  failures = CASE WHEN f.window_start > now() - interval '1 minute'"
    "   THEN f.failures + 1 ELSE 1 END,"
    "  window_start = CASE WHEN f.window_start > now() - interval '1 minute'"
    "   THEN f.window_start ELSE now() END",
    1, 0};

/* $1 user: is a confirmed TOTP enrolled? */
static struct db_stmt st_enrolled = {
    "mfa_enrolled", "SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL", 1, 0};

/* $1 ticket hash, $2 user, $3 security stamp, $4 remember, $5 device
 * hash (NULL: none), $6 seconds to live: a new ticket, and a few expired
 * ones removed. */
static struct db_stmt st_ticket = {
    "mfa_ticket",
    "WITH g AS (DELETE FROM mfa_tickets WHERE ticket_hash IN (SELECT ticket_hash"
    "  FROM mfa_tickets WHERE expires_at < now() LIMIT 100))"
    " INSERT INTO mfa_tickets (ticket_hash, user_id, security_stamp, remember, device_hash,"
    "  expires_at)"
    " VALUES ($1::bytea, $2, $3, $4::boolean, $5::bytea, now() + make_interval(secs => $6::int))",
    6, 0};

/* $1 ticket hash, $2 lockout_threshold, $3 lockout_base, $4 lockout_max:
 * one more attempt on a live ticket, and what completing it needs: the
 * user (as the login found it, still alive, unlocked by an administrator,
 * with the stamp of the login), their TOTP, the login's remember and
 * trusted device (NULL when the login had none, or its row is gone or no
 * longer live: then the account stands in for it, as at login).  The
 * attempt is counted here, before the code is checked, against the
 * device's row or the account's (dl, l: as a login counts), so that
 * parallel verifies on several tickets cannot all read "unlocked"; a
 * success takes it back (auth_login_session).  Then whether that row is
 * locked now (by earlier failures or this attempt) and the seconds left. */
static struct db_stmt st_ticket_use = {
    "mfa_ticket_use",
    "WITH t AS (UPDATE mfa_tickets SET attempts = attempts + 1"
    "  WHERE ticket_hash = $1::bytea AND expires_at > now() AND attempts < " TICKET_ATTEMPTS
    "  RETURNING user_id, security_stamp, remember, device_hash),"
    " u AS (SELECT u.id, u.username, u.email, u.security_stamp, u.roles::text AS roles,"
    "  m.secret_sealed, coalesce(m.last_used_step, -1) AS last_step, t.remember,"
    "  t.device_hash"
    "  FROM t JOIN auth_users u ON u.id = t.user_id AND u.deleted_at IS NULL"
    "   AND u.security_stamp = t.security_stamp"
    "   AND NOT (u.lockout_enabled AND coalesce(u.lockout_end > now(), false))"
    "  JOIN mfa_totp m ON m.user_id = u.id AND m.confirmed_at IS NOT NULL),"
    " dv AS (SELECT v.token_hash FROM login_devices v JOIN u ON v.user_id = u.id"
    "  WHERE v.token_hash = u.device_hash AND v.security_stamp = u.security_stamp"
    "  AND v.expires_at > now()),"
    " dl AS (UPDATE login_devices AS c SET" SQL_COUNT_ATTEMPT_234
    "  FROM dv WHERE c.token_hash = dv.token_hash"
    "  AND (c.locked_until IS NULL OR c.locked_until <= now())"
    "  RETURNING coalesce(c.locked_until > now(), false) AS locked, c.locked_until),"
    " l AS (INSERT INTO login_lockouts AS c (user_id, failures, locks, locked_until,"
    "  updated_at)"
    "  SELECT u.id, 1, 0, NULL, now() FROM u WHERE NOT EXISTS (SELECT 1 FROM dv)"
    "  ON CONFLICT (user_id) DO UPDATE SET" SQL_COUNT_ATTEMPT_234 ", updated_at = now()"
    "  WHERE c.locked_until IS NULL OR c.locked_until <= now()"
    "  RETURNING coalesce(c.locked_until > now(), false) AS locked, c.locked_until)"
    " SELECT u.id, u.username, u.email, u.security_stamp, u.roles, u.secret_sealed,"
    "  u.last_step, u.remember, (SELECT token_hash FROM dv),"
    "  CASE WHEN EXISTS (SELECT 1 FROM dv) THEN coalesce((SELECT locked FROM dl), true)"
    "   ELSE coalesce((SELECT locked FROM l), true) END,"
    "  greatest(coalesce("
    "   (SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM dl WHERE locked),"
    "   (SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM l WHERE locked),"
    "   (SELECT ceil(extract(epoch FROM v.locked_until - now()))::bigint"
    "    FROM login_devices v JOIN dv USING (token_hash)),"
    "   (SELECT ceil(extract(epoch FROM k.locked_until - now()))::bigint"
    "    FROM login_lockouts k WHERE k.user_id = u.id AND NOT EXISTS (SELECT 1 FROM dv))), 1)"
    " FROM u",
    4, 0};
enum {
	T_ID,
	T_USERNAME,
	T_EMAIL,
	T_STAMP,
	T_ROLES,
	T_SEALED,
	T_LAST,
	T_REMEMBER,
	T_DEVICE,
	T_LOCKED,
	T_LOCKED_FOR
};

/* $1 ticket hash: spend it (no row: another request did). */
static struct db_stmt st_ticket_spend = {
    "mfa_ticket_spend", "DELETE FROM mfa_tickets WHERE ticket_hash = $1::bytea RETURNING 1", 1, 0};

/* ---------------------------------------------------------------- helpers */

/* 1 when the statement's answer is what was expected, else a 5xx is sent. */
static int db_ok(struct http_req *r, PGresult *res, ExecStatusType want, const char *what)
{
	if (PQresultStatus(res) == want)
		return 1;
	auth_db_failed(r, res, what);
	return 0;
}

/* The verified bearer token's live session and its user's MFA state into
 * *res (the caller PQclears it); 0, or -1 after a 401/403/5xx reply. */
static int mfa_caller(struct http_req *r, struct token_claims *c, PGresult **res)
{
	int absent;
	enum token_status st = auth_bearer(r, 1, c, &absent);

	*res = NULL;
	if (st != TOKEN_OK) {
		if (!absent)
			log_info("event=token_refused reason=%s", token_status_text(st));
		auth_reply_invalid_token(r, absent ? "A Bearer access token is required."
						   : "The access token is invalid.");
		return -1;
	}
	if (c->client_id[0]) {
		/* a client's token does not manage the user's second factor */
		log_info("event=token_refused reason=client_token client=%s", c->client_id);
		http_error_h(
		    r, 403,
		    "WWW-Authenticate: Bearer realm=\"magenta\", error=\"insufficient_scope\"\r\n",
		    "insufficient_scope", "A token issued to an OAuth client.", NULL);
		return -1;
	}
	{
		const char *p[] = {c->sid, c->sub};
		*res = db_exec_stmt(&auth.db, &st_caller, p, 1);
	}
	if (!db_ok(r, *res, PGRES_TUPLES_OK, "mfa_caller"))
		return -1;
	if (PQntuples(*res) != 1) {
		log_info("event=token_refused reason=session_ended session=%s", c->sid);
		auth_reply_invalid_token(r, "The session has ended.");
		return -1;
	}
	return 0;
}

/* lockout_threshold, lockout_base and lockout_max as statement
 * parameters. */
struct lockout_params {
	char thr[24], base[24], max[24];
};

static void lockout_params(struct lockout_params *l)
{
	snprintf(l->thr, sizeof(l->thr), "%ld", conf_int(CONF_LOCKOUT_THRESHOLD));
	snprintf(l->base, sizeof(l->base), "%ld", conf_int(CONF_LOCKOUT_BASE));
	snprintf(l->max, sizeof(l->max), "%ld", conf_int(CONF_LOCKOUT_MAX));
}

/* A failure already counted against the account or device; for an
 * untrusted client (trusted 0) also against its address addr.  Logged
 * when it cannot be counted. */
static void count_failure(int trusted, const char *addr)
{
	PGresult *res;

	if (!trusted) {
		const char *p[] = {addr};
		res = db_exec_stmt(&auth.db, &st_count_address, p, 1);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_log_error("mfa_count_address", res);
		PQclear(res);
	}
	metrics_login(METRICS_LOGIN_FAILED);
}

/* Take back the attempt check_password counted for uid (its password was
 * right, and nothing after it failed); logged when it cannot. */
static void takeback_attempt(const char *uid)
{
	const char *p[] = {uid};
	PGresult *res = db_exec_stmt(&auth.db, &st_pw_takeback, p, 1);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_log_error("mfa_password_takeback", res);
	PQclear(res);
}

/* The client's address, as the login sees it. */
static void client_addr(struct http_req *r, char addr[CLIENTADDR_STRLEN])
{
	clientaddr_get(auth.proxies, r->remote_addr, http_param(r, "HTTP_X_FORWARDED_FOR"), addr);
}

/* 429 too_many_attempts with Retry-After: left seconds (at least 1). */
static void reply_locked(struct http_req *r, long left, const char *message)
{
	char hdr[48];

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", left > 0 ? left : 1);
	http_error_h(r, 429, hdr, "too_many_attempts", message, NULL);
}

/* The caller's password (member "password"), checked as a login checks
 * it: the attempt is counted first, in the statement that reads the lock
 * (parallel guesses all count); a locked account is refused without a
 * verification (429), a wrong password stays counted (403).  0 when the
 * password is right, its attempt still counted: the caller takes it back
 * (takeback_attempt) or lets a later failure keep it.  -1 after the
 * reply. */
static int check_password(struct http_req *r, PGresult *caller, const char *pw, size_t plen,
			  const char *addr)
{
	const char *uid = PQgetvalue(caller, 0, C_ID);
	struct lockout_params l;
	PGresult *res;
	int locked;
	long left;

	lockout_params(&l);
	{
		const char *p[] = {uid, l.thr, l.base, l.max};
		res = db_exec_stmt(&auth.db, &st_pw_attempt, p, 0);
	}
	if (!db_ok(r, res, PGRES_TUPLES_OK, "mfa_password_attempt")) {
		PQclear(res);
		return -1;
	}
	locked = PQgetvalue(res, 0, 0)[0] == 't';
	left = atol(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (locked) {
		log_info("event=mfa_refused reason=locked user=%s addr=%s", uid, addr);
		metrics_login(METRICS_LOGIN_LOCKED);
		reply_locked(r, left, "Too many failed attempts; try again later.");
		return -1;
	}
	if (pwhash_verify(PQgetvalue(caller, 0, C_HASH), pw, plen) != 0) {
		log_info("event=mfa_refused reason=bad_password user=%s addr=%s", uid, addr);
		count_failure(0, addr);
		http_error(r, 403, "invalid_password", "The password is wrong.", "password");
		return -1;
	}
	return 0;
}

/* Open the sealed secret (bytea text) of user uid into key; 0, or -1
 * after a 5xx (503 without mfa_key_file). */
static int open_secret(struct http_req *r, const char *sealed_text, const char *uid,
		       unsigned char key[TOTP_SECRETBYTES])
{
	unsigned char box[SEALED_MAX];

	if (auth.mfa.n == 0) {
		log_error("event=mfa_unavailable user=%s msg=\"no mfa_key_file\"", uid);
		http_unavailable(r, conf_int(CONF_RETRY_AFTER));
		return -1;
	}
	if (auth_bytea_get(box, sizeof(box), sealed_text) != 0 ||
	    mfa_key_open(&auth.mfa, key, box, sizeof(box), uid) != 0) {
		log_error(
		    "event=mfa_secret_unreadable user=%s msg=\"no key of mfa_key_file opens it\"",
		    uid);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		return -1;
	}
	return 0;
}

/* A recovery code as typed (any case, '-' and blanks ignored) into its
 * 16 lower-case base32 characters (norm, 17 bytes); 0, or -1 when it is
 * not one. */
static int recovery_normalize(const char *s, size_t len, char norm[RECOVERY_CHARS + 1])
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) || n == RECOVERY_CHARS)
			return -1;
		norm[n++] = c;
	}
	norm[n] = '\0';
	return n == RECOVERY_CHARS ? 0 : -1;
}

/* The hashes of a normalized recovery code under every key, as a text[]
 * of hex (out: cap bytes). */
static void recovery_hashes(char *out, size_t cap, const char *uid, const char *norm)
{
	unsigned char h[MFA_CODE_HASHBYTES];
	char hex[HASH_HEX];
	size_t n = 0;

	out[n++] = '{';
	for (int i = 0; i < auth.mfa.n && n + HASH_HEX + 2 < cap; i++) {
		mfa_key_code_hash(&auth.mfa, i, h, uid, norm, RECOVERY_CHARS);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		if (i)
			out[n++] = ',';
		memcpy(out + n, hex, HASH_HEX - 1);
		n += HASH_HEX - 1;
	}
	out[n++] = '}';
	out[n] = '\0';
	sodium_memzero(h, sizeof(h));
}

enum code_check { CODE_OK, CODE_WRONG, CODE_REPLIED };

/* Check code (6 digits, or a recovery code) for user uid, whose sealed
 * secret and last used step the caller read, and spend it.  CODE_WRONG
 * for a wrong, reused or spent code (not counted here). */
static enum code_check check_code(struct http_req *r, const char *uid, const char *sealed_text,
				  const char *last_text, const char *code, size_t clen,
				  const char **kind)
{
	unsigned char key[TOTP_SECRETBYTES];
	char norm[RECOVERY_CHARS + 1], arr[MFA_KEY_MAX * (HASH_HEX + 1) + 4], step[24];
	int64_t matched = 0;
	enum code_check rc = CODE_WRONG;
	PGresult *res;

	if (clen == TOTP_DIGITS) {
		int ok;

		*kind = "totp";
		if (open_secret(r, sealed_text, uid, key) != 0)
			return CODE_REPLIED;
		ok = totp_match(key, sizeof(key), code, clen, totp_step((int64_t)time(NULL)),
				atoll(last_text), &matched);
		sodium_memzero(key, sizeof(key));
		if (ok == TOTP_ERROR) {
			log_error("event=mfa_code_failed user=%s msg=\"hmac failed\"", uid);
			http_error(r, 500, "internal_error", "Internal error.", NULL);
			return CODE_REPLIED;
		}
		if (ok != 1)
			return CODE_WRONG;
		snprintf(step, sizeof(step), "%lld", (long long)matched);
		{
			const char *p[] = {uid, step};
			res = db_exec_stmt(&auth.db, &st_use_step, p, 0);
		}
	} else {
		*kind = "recovery";
		/* norm holds a recovery code, even half-read: wiped on every way out */
		if (recovery_normalize(code, clen, norm) != 0) {
			sodium_memzero(norm, sizeof(norm));
			return CODE_WRONG;
		}
		if (auth.mfa.n == 0) {
			sodium_memzero(norm, sizeof(norm));
			log_error("event=mfa_unavailable user=%s msg=\"no mfa_key_file\"", uid);
			http_unavailable(r, conf_int(CONF_RETRY_AFTER));
			return CODE_REPLIED;
		}
		recovery_hashes(arr, sizeof(arr), uid, norm);
		sodium_memzero(norm, sizeof(norm));
		{
			const char *p[] = {uid, arr};
			res = db_exec_stmt(&auth.db, &st_use_recovery, p, 0);
		}
	}
	if (!db_ok(r, res, PGRES_TUPLES_OK, "mfa_use_code"))
		rc = CODE_REPLIED;
	else if (PQntuples(res) > 0)
		rc = CODE_OK; /* 0 rows: replayed in its window, or spent */
	PQclear(res);
	return rc;
}

/* The code member (6 digits or a recovery code); 0, or -1 with errors. */
static int need_code(struct json_object *body, const char **code, size_t *clen,
		     struct json_object *errors)
{
	return http_need_str(body, "code", "Code", HTTP_STR_NONEMPTY | HTTP_STR_NO_NUL, 64, code,
			     clen, errors);
}

/* Percent-encode s for an otpauth:// URI (RFC 3986 unreserved kept) onto
 * the buffer out (cap bytes); 0, or -1 when it does not fit. */
static int uri_escape(char *out, size_t cap, size_t *n, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (*n + 1 >= cap)
				return -1;
			out[(*n)++] = (char)c;
		} else {
			if (*n + 3 >= cap)
				return -1;
			out[(*n)++] = '%';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		}
	}
	out[*n] = '\0';
	return 0;
}

/* Append a literal onto the URI buffer. */
static int uri_put(char *out, size_t cap, size_t *n, const char *s)
{
	size_t len = strlen(s);

	if (*n + len >= cap)
		return -1;
	memcpy(out + *n, s, len + 1);
	*n += len;
	return 0;
}

/* otpauth://totp/ISSUER:USER?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * (Google Authenticator's key URI format). */
static int otpauth_uri(char *out, size_t cap, const char *issuer, const char *user, const char *b32)
{
	size_t n = 0;

	return uri_put(out, cap, &n, "otpauth://totp/") || uri_escape(out, cap, &n, issuer) ||
		       uri_put(out, cap, &n, ":") || uri_escape(out, cap, &n, user) ||
		       uri_put(out, cap, &n, "?secret=") || uri_put(out, cap, &n, b32) ||
		       uri_put(out, cap, &n, "&issuer=") || uri_escape(out, cap, &n, issuer) ||
		       uri_put(out, cap, &n, "&algorithm=SHA1&digits=6&period=30")
		   ? -1
		   : 0;
}

/* ---------------------------------------------------------------- handlers */

void h_mfa_totp_status(struct http_req *r)
{
	struct token_claims c;
	struct json_object *o;
	PGresult *res;

	if (mfa_caller(r, &c, &res) == 0) {
		int on =
		    !PQgetisnull(res, 0, C_SEALED) && PQgetvalue(res, 0, C_CONFIRMED)[0] == 't';

		o = json_object_new_object();
		json_object_object_add(o, "enabled", json_object_new_boolean(on));
		json_object_object_add(
		    o, "pending", json_object_new_boolean(PQgetvalue(res, 0, C_PENDING)[0] == 't'));
		json_object_object_add(
		    o, "recoveryCodesLeft",
		    json_object_new_int64(on ? atol(PQgetvalue(res, 0, C_LEFT)) : 0));
		http_reply(r, 200, NULL, o);
	}
	PQclear(res);
}

void h_mfa_totp_enrol(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array(), *o;
	unsigned char key[TOTP_SECRETBYTES], box[SEALED_MAX];
	char b32[TOTP_B32LEN + 1], uri[1024], box_hex[2 * SEALED_MAX + 3], addr[CLIENTADDR_STRLEN];
	const char *pw = NULL, *uid;
	size_t plen = 0;
	struct token_claims c;
	PGresult *caller = NULL, *res;

	if (mfa_caller(r, &c, &caller) != 0)
		goto out;
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	http_need_str(body, "password", "Password", HTTP_STR_NONEMPTY,
		      (size_t)conf_int(CONF_PASSWORD_MAX) * 4, &pw, &plen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	uid = PQgetvalue(caller, 0, C_ID);
	client_addr(r, addr);
	if (check_password(r, caller, pw, plen, addr) != 0)
		goto out;
	takeback_attempt(uid);
	if (PQgetvalue(caller, 0, C_CONFIRMED)[0] == 't') {
		http_error(r, 409, "mfa_enabled",
			   "A second factor is already enabled; disable it first.", NULL);
		goto out;
	}
	if (auth.mfa.n == 0) {
		log_error("event=mfa_unavailable user=%s msg=\"no mfa_key_file\"", uid);
		http_error_h(r, 503, NULL, "mfa_unavailable",
			     "Second factors are not configured on this server.", NULL);
		goto out;
	}
	randombytes_buf(key, sizeof(key));
	totp_base32(b32, key, sizeof(key));
	if (mfa_key_seal(&auth.mfa, box, key, sizeof(key), uid) != 0 ||
	    otpauth_uri(uri, sizeof(uri), conf_str(CONF_MFA_ISSUER),
			PQgetvalue(caller, 0, C_USERNAME), b32) != 0) {
		log_error("event=mfa_enrol_failed user=%s", uid);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	auth_bytea(box_hex, box, sizeof(box));
	{
		const char *p[] = {uid, box_hex};
		res = db_exec_stmt(&auth.db, &st_enrol, p, 0);
	}
	if (db_ok(r, res, PGRES_TUPLES_OK, "mfa_enrol")) {
		if (PQntuples(res) == 0) {
			/* confirmed by a concurrent request */
			http_error(r, 409, "mfa_enabled", "A second factor is already enabled.",
				   NULL);
		} else {
			log_info("event=mfa_enrol user=%s addr=%s", uid, addr);
			o = json_object_new_object();
			json_object_object_add(o, "secret", json_object_new_string(b32));
			json_object_object_add(o, "otpauthUri", json_object_new_string(uri));
			json_object_object_add(o, "algorithm", json_object_new_string("SHA1"));
			json_object_object_add(o, "digits", json_object_new_int(TOTP_DIGITS));
			json_object_object_add(o, "period", json_object_new_int(TOTP_PERIOD));
			http_reply_wiped(r, 200, o);
		}
	}
	PQclear(res);
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(uri, sizeof(uri));
	PQclear(caller);
	json_object_put(errors);
	json_put_wiped(body);
}

void h_mfa_totp_confirm(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array(), *o, *list;
	unsigned char key[TOTP_SECRETBYTES], raw[RECOVERY_RAW], h[MFA_CODE_HASHBYTES];
	char codes[RECOVERY_CODES][RECOVERY_SHOWN + 1], norm[RECOVERY_CHARS + 2], step[24];
	char arr[RECOVERY_CODES * HASH_HEX + 4];
	const char *code = NULL, *uid;
	size_t clen = 0, n = 0;
	int64_t matched = 0;
	int ok, tries;
	struct token_claims c;
	PGresult *caller = NULL, *try = NULL, *res;

	memset(codes, 0, sizeof(codes));
	if (mfa_caller(r, &c, &caller) != 0)
		goto out;
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	if (need_code(body, &code, &clen, errors) != 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	uid = PQgetvalue(caller, 0, C_ID);
	{
		const char *p[] = {uid};
		try = db_exec_stmt(&auth.db, &st_confirm_try, p, 0);
	}
	if (!db_ok(r, try, PGRES_TUPLES_OK, "mfa_confirm_try"))
		goto out;
	if (PQntuples(try) != 1) {
		/* none, confirmed, expired (CONFIRM_TTL) or out of codes */
		http_error(r, 409, "mfa_not_pending",
			   "No enrolment waits for confirmation (none, or it expired or had too "
			   "many wrong codes): POST /api/auth/mfa/totp first.",
			   NULL);
		goto out;
	}
	tries = atoi(PQgetvalue(try, 0, 1));
	if (open_secret(r, PQgetvalue(try, 0, 0), uid, key) != 0)
		goto out;
	ok = totp_match(key, sizeof(key), code, clen, totp_step((int64_t)time(NULL)), -1, &matched);
	sodium_memzero(key, sizeof(key));
	if (ok == TOTP_ERROR) {
		log_error("event=mfa_confirm_failed user=%s msg=\"hmac failed\"", uid);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	if (ok != 1) {
		log_info("event=mfa_confirm_failed user=%s attempts=%d", uid, tries);
		if (tries >= atoi(CONFIRM_ATTEMPTS)) {
			/* the last code this enrolment allowed: its secret goes */
			const char *p[] = {uid, PQgetvalue(try, 0, 0)};

			res = db_exec_stmt(&auth.db, &st_confirm_discard, p, 0);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				db_log_error("mfa_confirm_discard", res);
			PQclear(res);
			log_info("event=mfa_enrol_discarded user=%s reason=too_many_codes", uid);
			http_error(r, 400, "invalid_code",
				   "The code is wrong; too many wrong codes: enrol again.", "code");
			goto out;
		}
		http_error(r, 400, "invalid_code", "The code is wrong.", "code");
		goto out;
	}
	/* the recovery codes: 80 random bits each, shown once, kept hashed */
	arr[n++] = '{';
	for (int i = 0; i < RECOVERY_CODES; i++) {
		char hex[HASH_HEX];

		randombytes_buf(raw, sizeof(raw));
		totp_base32(norm, raw, sizeof(raw));
		for (int j = 0; j < RECOVERY_CHARS; j++)
			norm[j] = (char)(norm[j] >= 'A' && norm[j] <= 'Z' ? norm[j] - 'A' + 'a'
									  : norm[j]);
		snprintf(codes[i], sizeof(codes[i]), "%.4s-%.4s-%.4s-%.4s", norm, norm + 4,
			 norm + 8, norm + 12);
		mfa_key_code_hash(&auth.mfa, 0, h, uid, norm, RECOVERY_CHARS);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		if (i)
			arr[n++] = ',';
		memcpy(arr + n, hex, HASH_HEX - 1);
		n += HASH_HEX - 1;
	}
	arr[n++] = '}';
	arr[n] = '\0';
	snprintf(step, sizeof(step), "%lld", (long long)matched);
	{
		const char *p[] = {uid, step, PQgetvalue(try, 0, 0), arr};
		res = db_exec_stmt(&auth.db, &st_confirm, p, 0);
	}
	if (db_ok(r, res, PGRES_TUPLES_OK, "mfa_confirm")) {
		if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
			/* replaced or confirmed by a concurrent request */
			http_error(r, 409, "mfa_not_pending",
				   "The enrolment changed meanwhile; start again.", NULL);
		} else {
			log_info("event=mfa_enabled user=%s", uid);
			o = json_object_new_object();
			list = json_object_new_array();
			for (int i = 0; i < RECOVERY_CODES; i++)
				json_object_array_add(list, json_object_new_string(codes[i]));
			json_object_object_add(o, "enabled", json_object_new_boolean(1));
			json_object_object_add(o, "recoveryCodes", list);
			http_reply_wiped(r, 200, o);
		}
	}
	PQclear(res);
out:
	sodium_memzero(codes, sizeof(codes));
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(raw, sizeof(raw));
	PQclear(try);
	PQclear(caller);
	json_object_put(errors);
	json_put_wiped(body);
}

void h_mfa_totp_disable(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array(), *o;
	char addr[CLIENTADDR_STRLEN];
	const char *pw = NULL, *code = NULL, *uid, *kind = "";
	size_t plen = 0, clen = 0;
	struct token_claims c;
	PGresult *caller = NULL, *res;

	if (mfa_caller(r, &c, &caller) != 0)
		goto out;
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	http_need_str(body, "password", "Password", HTTP_STR_NONEMPTY,
		      (size_t)conf_int(CONF_PASSWORD_MAX) * 4, &pw, &plen, errors);
	need_code(body, &code, &clen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	uid = PQgetvalue(caller, 0, C_ID);
	client_addr(r, addr);
	if (check_password(r, caller, pw, plen, addr) != 0)
		goto out;
	/* the attempt stays counted until the code is right too (then
	 * st_disable forgets the account's failures) */
	if (PQgetisnull(caller, 0, C_SEALED) || PQgetvalue(caller, 0, C_CONFIRMED)[0] != 't') {
		takeback_attempt(uid);
		http_error(r, 409, "mfa_not_enabled", "No second factor is enabled.", NULL);
		goto out;
	}
	switch (check_code(r, uid, PQgetvalue(caller, 0, C_SEALED), PQgetvalue(caller, 0, C_LAST),
			   code, clen, &kind)) {
	case CODE_REPLIED: goto out;
	case CODE_WRONG:
		log_info("event=mfa_refused reason=bad_code kind=%s user=%s addr=%s", kind, uid,
			 addr);
		count_failure(0, addr);
		http_error(r, 403, "invalid_code", "The code is wrong.", "code");
		goto out;
	case CODE_OK: break;
	}
	{
		const char *p[] = {uid};
		res = db_exec_stmt(&auth.db, &st_disable, p, 0);
	}
	if (db_ok(r, res, PGRES_COMMAND_OK, "mfa_disable")) {
		log_info("event=mfa_disabled user=%s addr=%s", uid, addr);
		o = json_object_new_object();
		json_object_object_add(o, "enabled", json_object_new_boolean(0));
		http_reply(r, 200, NULL, o);
	}
	PQclear(res);
out:
	PQclear(caller);
	json_object_put(errors);
	json_put_wiped(body);
}

enum auth_outcome auth_mfa_gate(struct http_req *r, const struct auth_login_input *in,
				const char *device_hex, struct auth_login_result *out)
{
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	char hash_hex[2 * REFRESH_HASHBYTES + 3], ttl[24];
	PGresult *res;
	int enrolled;

	{
		const char *p[] = {out->u.id};
		res = db_exec_stmt(&auth.db, &st_enrolled, p, 1);
	}
	if (!db_ok(r, res, PGRES_TUPLES_OK, "mfa_enrolled")) {
		PQclear(res);
		return AUTH_REPLIED;
	}
	enrolled = PQntuples(res) == 1;
	PQclear(res);
	if (!enrolled)
		return AUTH_OK;
	if (in->client_id) {
		/* the password grant has no step for a code: such users log
		 * in through /api/auth/login (docs/oauth2.md) */
		log_info("event=login_refused reason=mfa_enrolled user=%s client=%s", out->u.id,
			 in->client_id);
		return AUTH_REFUSED;
	}
	refresh_new(out->mfa_ticket, raw);
	refresh_hash(hash, raw);
	sodium_memzero(raw, sizeof(raw));
	auth_bytea(hash_hex, hash, sizeof(hash));
	snprintf(ttl, sizeof(ttl), "%ld", conf_int(CONF_MFA_TICKET_TTL));
	{
		const char *p[] = {hash_hex,   out->u.id, out->u.stamp, in->remember ? "t" : "f",
				   device_hex, ttl};
		res = db_exec_stmt(&auth.db, &st_ticket, p, 0);
	}
	if (!db_ok(r, res, PGRES_COMMAND_OK, "mfa_ticket")) {
		PQclear(res);
		return AUTH_REPLIED;
	}
	PQclear(res);
	log_info("event=login_mfa_required user=%s trusted=%d", out->u.id, device_hex != NULL);
	return AUTH_MFA_REQUIRED;
}

void auth_mfa_reply_required(struct http_req *r, const char *ticket)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string("mfa_required"));
	json_object_object_add(
	    o, "message",
	    json_object_new_string("A second factor is required: POST /api/auth/mfa/verify."));
	json_object_object_add(o, "mfaTicket", json_object_new_string(ticket));
	json_object_object_add(o, "expiresIn",
			       json_object_new_int64(conf_int(CONF_MFA_TICKET_TTL)));
	http_reply_wiped(r, 403, o);
}

/* 401 for a ticket that is malformed, unknown, expired, spent or used up. */
static void reply_bad_ticket(struct http_req *r)
{
	http_error(r, 401, "invalid_ticket",
		   "The MFA ticket is invalid, expired or used up; log in again.", "ticket");
}

void h_mfa_verify(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array();
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	char hash_hex[2 * REFRESH_HASHBYTES + 3], addr[CLIENTADDR_STRLEN], cookie[512] = "";
	const char *ticket = NULL, *code = NULL, *uid, *device_hex, *kind = "";
	size_t tlen = 0, clen = 0;
	struct auth_login_input in;
	struct auth_login_result out;
	struct lockout_params l;
	int use_cookie = conf_bool(CONF_DEVICE_COOKIE);
	PGresult *res = NULL, *spent;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	http_need_str(body, "ticket", "Ticket", HTTP_STR_NONEMPTY | HTTP_STR_NO_NUL, 64, &ticket,
		      &tlen, errors);
	need_code(body, &code, &clen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	if (refresh_parse(ticket, tlen, raw) != 0) {
		log_info("event=mfa_verify_failed reason=malformed_ticket");
		reply_bad_ticket(r);
		goto out;
	}
	refresh_hash(hash, raw);
	sodium_memzero(raw, sizeof(raw));
	auth_bytea(hash_hex, hash, sizeof(hash));
	lockout_params(&l);
	{
		const char *p[] = {hash_hex, l.thr, l.base, l.max};
		res = db_exec_stmt(&auth.db, &st_ticket_use, p, 0);
	}
	if (!db_ok(r, res, PGRES_TUPLES_OK, "mfa_ticket_use"))
		goto out;
	if (PQntuples(res) != 1) {
		log_info("event=mfa_verify_failed reason=bad_ticket");
		reply_bad_ticket(r);
		goto out;
	}
	uid = PQgetvalue(res, 0, T_ID);
	device_hex = PQgetisnull(res, 0, T_DEVICE) ? NULL : PQgetvalue(res, 0, T_DEVICE);
	client_addr(r, addr);
	if (PQgetvalue(res, 0, T_LOCKED)[0] == 't') {
		log_info("event=mfa_verify_failed reason=locked user=%s addr=%s", uid, addr);
		metrics_login(METRICS_LOGIN_LOCKED);
		reply_locked(r, atol(PQgetvalue(res, 0, T_LOCKED_FOR)),
			     "Too many failed attempts; log in again later.");
		goto out;
	}
	switch (check_code(r, uid, PQgetvalue(res, 0, T_SEALED), PQgetvalue(res, 0, T_LAST), code,
			   clen, &kind)) {
	case CODE_REPLIED: goto out;
	case CODE_WRONG:
		log_info("event=mfa_verify_failed reason=bad_code kind=%s user=%s addr=%s "
			 "trusted=%d",
			 kind, uid, addr, device_hex != NULL);
		count_failure(device_hex != NULL, addr);
		http_error(r, 401, "invalid_code", "The code is wrong.", "code");
		goto out;
	case CODE_OK: break;
	}
	{
		const char *p[] = {hash_hex};
		spent = db_exec_stmt(&auth.db, &st_ticket_spend, p, 0);
	}
	if (!db_ok(r, spent, PGRES_TUPLES_OK, "mfa_ticket_spend")) {
		PQclear(spent);
		goto out;
	}
	if (PQntuples(spent) != 1) {
		/* a concurrent verify with another good code took it */
		PQclear(spent);
		reply_bad_ticket(r);
		goto out;
	}
	PQclear(spent);
	in.remember = PQgetvalue(res, 0, T_REMEMBER)[0] == 't';
	out.u = (struct auth_user){uid, PQgetvalue(res, 0, T_USERNAME), PQgetvalue(res, 0, T_EMAIL),
				   PQgetvalue(res, 0, T_ROLES), PQgetvalue(res, 0, T_STAMP)};
	log_info("event=mfa_verified kind=%s user=%s addr=%s", kind, uid, addr);
	if (auth_login_session(r, &in, addr, device_hex, &out) != AUTH_OK)
		goto out;
	metrics_login(METRICS_LOGIN_OK);
	metrics_token(METRICS_TOKEN_REFRESH);
	if (use_cookie && devicetoken_set_cookie(cookie, sizeof(cookie), out.device,
						 conf_int(CONF_DEVICE_TTL)) != 0) {
		log_error("event=device_cookie_failed user=%s", uid);
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	/* the refresh cookie too, as at login (a page's sign-in ends here) */
	if (conf_bool(CONF_REFRESH_COOKIE)) {
		size_t n = strlen(cookie);

		if (auth_refresh_cookie_line(cookie + n, sizeof(cookie) - n, out.refresh,
					     out.refresh_expires_in, in.remember) != 0) {
			log_error("event=refresh_cookie_failed user=%s", uid);
			http_error(r, 500, "internal_error", "Internal error.", NULL);
			goto out;
		}
	}
	auth_reply_login(r, &out.u, out.sid, out.refresh, out.refresh_expires_in,
			 use_cookie ? NULL : out.device, *cookie ? cookie : NULL);
out:
	sodium_memzero(cookie, sizeof(cookie));
	auth_login_result_clear(&out); /* out.user is NULL: res is ours */
	PQclear(res);
	json_object_put(errors);
	json_put_wiped(body);
}
