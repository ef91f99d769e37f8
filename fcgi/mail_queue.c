/* mail_queue: the registration service's side of mail (docs/registration.md
 * "Mail"): a one-time token and its mail request, written together, and
 * the fixed-window limits of the mail endpoints.  Nothing here talks SMTP:
 * magenta-mailer delivers what the queue holds. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "conf.h"
#include "mailtoken.h"
#include "registration.h"

/* $1 the user (its id, or its email), $2 purpose, $3 token hash, $4
 * lifetime seconds, $5 template, $6 the token text (until the mailer sent
 * it).  The token and the mail in one statement: in the caller's
 * transaction when one is open.  One row (count) either way, so that an
 * unknown address costs the same statements as a known one. */
#define SQL_QUEUE(match)                                                                           \
	"WITH u AS (SELECT id, username, email FROM users WHERE " match "),"                       \
	" t AS ("                                                                                  \
	" INSERT INTO email_tokens (user_id, purpose, email, token_hash, expires_at)"              \
	" SELECT u.id, $2, u.email, $3::bytea, now() + $4::integer * interval '1 second' FROM u"   \
	" RETURNING id, email),"                                                                   \
	" m AS ("                                                                                  \
	" INSERT INTO mail_outbox (template, recipient, token_id, params)"                         \
	" SELECT $5, t.email, t.id, jsonb_build_object('token', $6::text, 'username',"             \
	"  (SELECT username FROM u), 'validMinutes', $4::integer / 60) FROM t RETURNING id)"       \
	" SELECT count(*) FROM m"

static struct db_stmt st_queue_id = {"mail_queue_by_id", SQL_QUEUE("id = $1::uuid"), 6, 0};
static struct db_stmt st_queue_email = {"mail_queue_by_email", SQL_QUEUE("email = $1"), 6, 0};

/* $1 the user: its reset tokens not yet used, spent. */
static struct db_stmt st_spend_resets = {
    "mail_spend_resets",
    "UPDATE email_tokens SET used_at = now()"
    " WHERE user_id = $1::uuid AND purpose = 'reset' AND used_at IS NULL",
    1, 0};

/* $1 key, $2 window seconds: this request counted; its count and the
 * seconds left in the window. */
static struct db_stmt st_rate = {"mail_rate", REG_SQL_RATE("$1", "$2"), 2, 0};

/* Queue a mail with a new token. */
int reg_mail_queue(enum reg_mail kind, const char *who, int by_email, PGresult **failed)
{
	char token[MAILTOKEN_STRLEN + 1], hash[MAILTOKEN_HASH_PGLEN + 1], ttl[16];
	const char *p[6];
	PGresult *res;
	int rc;

	*failed = NULL;
	mailtoken_new(token);
	if (mailtoken_hash_pg(token, MAILTOKEN_STRLEN, hash) != 0)
		abort(); /* our own token is well-formed */
	snprintf(ttl, sizeof(ttl), "%ld",
		 conf_int(kind == REG_MAIL_CONFIRM ? CONF_MAIL_CONFIRM_TTL : CONF_MAIL_RESET_TTL));
	p[0] = who;
	p[1] = kind == REG_MAIL_CONFIRM ? "confirm" : "reset";
	p[2] = hash;
	p[3] = ttl;
	p[4] = kind == REG_MAIL_CONFIRM ? "confirm-email" : "password-reset";
	p[5] = token;
	/* not retried: inside a transaction a lost connection is the
	 * caller's to answer, and alone a repeat would send two mails */
	res = db_exec_stmt(&reg.db, by_email ? &st_queue_email : &st_queue_id, p, 0);
	sodium_memzero(token, sizeof(token));
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		*failed = res;
		return -1;
	}
	rc = atoi(PQgetvalue(res, 0, 0)) > 0;
	PQclear(res);
	return rc;
}

/* Spend the user's open reset tokens. */
int reg_mail_spend_resets(const char *user, PGresult **failed)
{
	const char *p[1] = {user};
	PGresult *res;

	*failed = NULL;
	/* not retried: it runs inside the caller's transaction */
	res = db_exec_stmt(&reg.db, &st_spend_resets, p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*failed = res;
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Count one request against key. */
long reg_rate_limit(const char *key, long limit, PGresult **failed)
{
	char window[16];
	const char *p[] = {key, window};
	PGresult *res;
	long rc;

	*failed = NULL;
	snprintf(window, sizeof(window), "%ld", conf_int(CONF_MAIL_RATE_WINDOW));
	res = db_exec_stmt(&reg.db, &st_rate, p, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		*failed = res;
		return -1;
	}
	rc = atol(PQgetvalue(res, 0, 0)) > limit ? atol(PQgetvalue(res, 0, 1)) : 0;
	PQclear(res);
	return rc;
}

/* confirm-address:<email> */
void reg_confirm_key(const char *email, char *key)
{
	snprintf(key, REG_RATE_KEY_MAX, "confirm-address:%s", email);
}

/* Count a confirmation mail. */
long reg_confirm_rate(const char *user, const char *email, PGresult **failed)
{
	char key[REG_RATE_KEY_MAX];
	long w1 = 0, w2;

	if (user) {
		snprintf(key, sizeof(key), "resend:%s", user);
		w1 = reg_rate_limit(key, conf_int(CONF_MAIL_RESEND_LIMIT), failed);
		if (w1 < 0)
			return -1;
	}
	reg_confirm_key(email, key);
	w2 = reg_rate_limit(key, conf_int(CONF_MAIL_CONFIRM_ADDRESS_LIMIT), failed);
	if (w2 < 0)
		return -1;
	return w1 > w2 ? w1 : w2;
}

/* 429 with Retry-After. */
void reg_reply_rate_limited(struct http_req *r, long retry_after, const char *message)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry_after > 0 ? retry_after : 1);
	http_error_h(r, 429, hdr, "too_many_requests", message, NULL);
}
