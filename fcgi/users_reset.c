/* users_reset: POST /api/registration/password/forgot {email} and POST
 * /api/registration/password/reset {token, newPassword, confirmPassword}.
 *
 * forgot answers 202 with one body whether or not an account has the
 * address, after the same statements either way (no enumeration, by
 * status, body or time); a mail with a reset token (mail_reset_ttl) is
 * queued only for an account.  Limits: per client address (429, which
 * says nothing of the account) and per address (silent: still 202).
 *
 * reset checks the token and the password policy first (a typo in the
 * new password does not burn the token), then spends the token in a
 * statement of its own, committed before the password is written: from
 * then on it is spent, whatever happens next.  The new hash and a new
 * security stamp go out as UserUpdated, on which the authentication
 * service revokes every session of the user (docs/auth.md). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "event.h"
#include "log.h"
#include "mailtoken.h"
#include "pwhash.h"
#include "registration.h"

/* A live reset token, not spent, sent to the address the account still
 * has (an email change also spends them: users_me.c). */
static struct db_stmt st_find = {
    "reset_token_find",
    "SELECT t.id::text, t.user_id::text FROM email_tokens t JOIN users u ON u.id = t.user_id"
    " WHERE t.token_hash = $1::bytea AND t.purpose = 'reset' AND t.used_at IS NULL"
    " AND t.expires_at > now() AND t.email = u.email",
    1, 0};

/* Spend it, and every other reset token of its user: one reset each.
 * The address it was sent to comes back. */
static struct db_stmt st_spend = {
    "reset_token_spend",
    "WITH s AS (UPDATE email_tokens SET used_at = now()"
    "  WHERE id = $1::bigint AND used_at IS NULL AND expires_at > now()"
    "  RETURNING user_id, email),"
    " o AS (UPDATE email_tokens e SET used_at = now() FROM s"
    "  WHERE e.user_id = s.user_id AND e.purpose = 'reset' AND e.used_at IS NULL"
    "  AND e.id <> $1::bigint)"
    " SELECT email FROM s",
    1, 0};

static const char forgot_message[] =
    "If an account has this address, a mail with a link to reset its password is on its way.";

/* POST /api/registration/password/forgot {email} */
void h_password_forgot(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array(), *o;
	char lc[EMAIL_MAX + 1], addr[CLIENTADDR_STRLEN], key[CLIENTADDR_STRLEN + EMAIL_MAX + 32];
	const char *email;
	size_t elen;
	PGresult *failed = NULL;
	long wait;
	int limited, rc;

	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	if (http_need_str(body, "email", "Email", HTTP_STR_NO_NUL, 0, &email, &elen, errors) != 0 ||
	    rule_email(email, elen, lc, errors) != 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	clientaddr_get(reg.proxies, r->remote_addr, http_param(r, "HTTP_X_FORWARDED_FOR"), addr);
	snprintf(key, sizeof(key), "forgot-client:%s", addr);
	wait = reg_rate_limit(key, conf_int(CONF_MAIL_FORGOT_CLIENT_LIMIT), &failed);
	if (wait < 0)
		goto failed;
	if (wait > 0) {
		log_info("event=mail_rate_limited kind=forgot_client addr=%s retry_after=%ld", addr,
			 wait);
		reg_reply_rate_limited(r, wait,
				       "Too many password reset requests; try again later.");
		goto out;
	}
	snprintf(key, sizeof(key), "forgot-address:%s", lc);
	wait = reg_rate_limit(key, conf_int(CONF_MAIL_FORGOT_ADDRESS_LIMIT), &failed);
	if (wait < 0)
		goto failed;
	limited = wait > 0;
	/* past the address's limit the same statement runs, matching nobody */
	rc = reg_mail_queue(REG_MAIL_RESET, limited ? "" : lc, 1, &failed);
	if (rc < 0)
		goto failed;
	/* the log may tell what the answer does not */
	log_info("event=password_forgot addr=%s queued=%d address_limited=%d", addr, rc, limited);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(forgot_message));
	http_reply(r, 202, NULL, o);
	goto out;
failed:
	reg_db_failed(r, failed, "password_forgot");
out:
	PQclear(failed);
	json_object_put(errors);
	json_object_put(body);
}

/* The three members, shape and confirmation checked; -1 after 400. */
static int reset_read(struct http_req *r, struct json_object *body, const char **tok, size_t *tlen,
		      const char **pw, size_t *plen)
{
	struct json_object *errors = json_object_new_array();
	const char *confirm;
	size_t clen;
	int have_p, have_c;

	http_need_str(body, "token", "Token", HTTP_STR_NO_NUL, 0, tok, tlen, errors);
	have_p = http_need_str(body, "newPassword", "New password", HTTP_STR_NO_NUL, 0, pw, plen,
			       errors) == 0;
	have_c = http_need_str(body, "confirmPassword", "Password confirmation", HTTP_STR_NO_NUL, 0,
			       &confirm, &clen, errors) == 0;
	if (have_p && have_c)
		rule_confirm(*pw, *plen, confirm, clen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		return -1;
	}
	json_object_put(errors);
	return 0;
}

/* Find the live token; 1 with its id (24) and user filled, 0 after 400,
 * -1 after 5xx. */
static int reset_find(struct http_req *r, const char *tok, size_t tlen, char *id, char *user)
{
	char hash[MAILTOKEN_HASH_PGLEN + 1];
	const char *p[1] = {hash};
	PGresult *res;
	int rc = 0;

	if (mailtoken_hash_pg(tok, tlen, hash) != 0) {
		http_error(r, 400, "invalid_token", "The token is unknown, used or expired.",
			   "token");
		return 0;
	}
	res = db_exec_stmt(&reg.db, &st_find, p, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		reg_db_failed(r, res, "reset_token_find");
		rc = -1;
	} else if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) > 23 ||
		   PQgetlength(res, 0, 1) > UUID_STRLEN) {
		log_info("event=email_token_refused purpose=reset");
		http_error(r, 400, "invalid_token", "The token is unknown, used or expired.",
			   "token");
	} else {
		memcpy(id, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
		memcpy(user, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1) + 1);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* Spend token id; 1 with the address it was sent to in email, 0 after
 * 400 (spent meanwhile), -1 after 5xx. */
static int reset_spend(struct http_req *r, const char *id, char *email)
{
	const char *p[1] = {id};
	PGresult *res = db_exec_stmt(&reg.db, &st_spend, p, 1);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		reg_db_failed(r, res, "reset_token_spend");
		rc = -1;
	} else if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) > EMAIL_MAX) {
		http_error(r, 400, "invalid_token", "The token is unknown, used or expired.",
			   "token");
	} else {
		memcpy(email, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* POST /api/registration/password/reset {token, newPassword, confirmPassword} */
void h_password_reset(struct http_req *r)
{
	struct json_object *body = NULL, *errors = NULL, *changed, *o;
	char id[24], user[UUID_STRLEN + 1], email[EMAIL_MAX + 1], event_id[UUID_STRLEN + 1];
	char hash[PWHASH_STRBYTES];
	unsigned char rnd[16];
	struct account a, next;
	const char *tok, *pw;
	size_t tlen, plen;
	PGresult *res = NULL, *failed;
	int rc;

	hash[0] = '\0';
	memset(&a, 0, sizeof(a));
	memset(&next, 0, sizeof(next));
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		return;
	if (reset_read(r, body, &tok, &tlen, &pw, &plen) != 0)
		goto out;
	if (reset_find(r, tok, tlen, id, user) != 1)
		goto out;
	rc = account_load(&reg.db, user, &a, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "reset_load");
		PQclear(failed);
		goto out;
	}
	if (rc == 0) {
		http_error(r, 400, "invalid_token", "The token is unknown, used or expired.",
			   "token");
		goto out;
	}
	errors = json_object_new_array();
	if (rule_password(pw, plen, "newPassword", a.username, strlen(a.username), a.email,
			  strlen(a.email), errors) != 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	/* from here on the token is spent, whatever fails next */
	if (reset_spend(r, id, email) != 1)
		goto out;
	if (pwhash_hash(hash, pw, plen) != 0) {
		log_error("event=pwhash_failed");
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		next = a;
		snprintf(next.password_hash, sizeof(next.password_hash), "%s", hash);
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(next.security_stamp, sizeof(next.security_stamp), rnd, sizeof(rnd));
		next.version = a.version + 1;
		event_time_now(next.updated_at);
		changed = json_object_new_array();
		json_object_array_add(changed, json_object_new_string("passwordHash"));
		json_object_array_add(changed, json_object_new_string("securityStamp"));
		/* the mail reached the address: it is confirmed too */
		if (!a.email_confirmed && strcmp(a.email, email) == 0) {
			next.email_confirmed = 1;
			json_object_array_add(changed, json_object_new_string("emailConfirmed"));
		}
		res = account_update(&reg.db, &next, changed, event_id);
		sodium_memzero(next.password_hash, sizeof(next.password_hash));
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			reg_db_failed(r, res, "reset_update");
			goto out;
		}
		if (PQntuples(res) == 1)
			break;
		PQclear(res);
		res = NULL;
		if (reg_retry(r, &a, attempt, NULL) != 0)
			goto out;
	}
	log_info("event=password_reset user=%s version=%lld event_id=%s", a.id, next.version,
		 event_id);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(
	    o, "message",
	    json_object_new_string("The password is changed; every session of the "
				   "account is signed out."));
	http_reply(r, 200, NULL, o);
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(&a, sizeof(a));
	sodium_memzero(&next, sizeof(next));
	PQclear(res);
	json_object_put(errors);
	json_put_wiped(body); /* json-c's copies of the passwords and the token */
}
