/* users_confirm: POST /api/registration/confirm-email {token} and POST
 * /api/registration/users/me/confirm-email/resend.
 *
 * The token came by mail (mail_queue.c); it is looked up by its hash and
 * spent in a statement of its own, committed before the account changes:
 * whatever happens next, it cannot be used twice.  It confirms the
 * address it was sent to only: after an email change, a token of the old
 * address confirms nothing. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "event.h"
#include "log.h"
#include "mailtoken.h"
#include "registration.h"

/* $1 the token's hash, $2 its purpose: spent if it is live. */
static struct db_stmt st_spend = {
    "email_token_spend",
    "UPDATE email_tokens SET used_at = now()"
    " WHERE token_hash = $1::bytea AND purpose = $2 AND used_at IS NULL AND expires_at > now()"
    " RETURNING user_id::text, email",
    2, 0};

/* The answer for a token that is unknown, spent or expired: one for all. */
static void reply_bad_token(struct http_req *r)
{
	http_error(r, 400, "invalid_token", "The token is unknown, used or expired.", "token");
}

/* Spend the confirmation token in body; 1 with user (UUID_STRLEN + 1) and
 * email (EMAIL_MAX + 1) filled, 0 after replying 400, -1 after 5xx. */
static int spend(struct http_req *r, struct json_object *body, const char *purpose, char *user,
		 char *email)
{
	struct json_object *errors = json_object_new_array();
	char hash[MAILTOKEN_HASH_PGLEN + 1];
	const char *tok, *p[2];
	size_t tlen;
	PGresult *res;
	int rc = 0;

	if (http_need_str(body, "token", "Token", HTTP_STR_NO_NUL, 0, &tok, &tlen, errors) != 0) {
		http_errors(r, 400, errors);
		return 0;
	}
	json_object_put(errors);
	if (mailtoken_hash_pg(tok, tlen, hash) != 0) {
		reply_bad_token(r);
		return 0;
	}
	p[0] = hash;
	p[1] = purpose;
	/* safe to repeat: a second run after a lost first one finds it spent */
	res = db_exec_stmt(&reg.db, &st_spend, p, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		reg_db_failed(r, res, "email_token_spend");
		rc = -1;
	} else if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) > UUID_STRLEN ||
		   PQgetlength(res, 0, 1) > EMAIL_MAX) {
		log_info("event=email_token_refused purpose=%s", purpose);
		reply_bad_token(r);
	} else {
		memcpy(user, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
		memcpy(email, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1) + 1);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* POST /api/registration/confirm-email {token}: 200 with the user. */
void h_confirm_email(struct http_req *r)
{
	struct json_object *body = NULL, *changed;
	char user[UUID_STRLEN + 1], email[EMAIL_MAX + 1], event_id[UUID_STRLEN + 1];
	struct account a, next;
	PGresult *res = NULL, *failed;
	int rc;

	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		return;
	if (spend(r, body, "confirm", user, email) != 1)
		goto out;
	rc = account_load(&reg.db, user, &a, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "confirm_load");
		PQclear(failed);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		if (rc == 0 || strcmp(a.email, email) != 0) {
			/* gone, or the address changed since the mail was sent */
			log_info("event=email_token_refused purpose=confirm reason=%s user=%s",
				 rc == 0 ? "no_user" : "address_changed", user);
			reply_bad_token(r);
			goto out;
		}
		if (a.email_confirmed) {
			reg_reply_user(r, &a);
			goto out;
		}
		next = a;
		next.email_confirmed = 1;
		next.version = a.version + 1;
		event_time_now(next.updated_at);
		changed = json_object_new_array();
		json_object_array_add(changed, json_object_new_string("emailConfirmed"));
		res = account_update(&reg.db, &next, changed, event_id);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			reg_db_failed(r, res, "confirm_update");
			goto out;
		}
		if (PQntuples(res) == 1)
			break;
		PQclear(res);
		res = NULL;
		if (reg_retry(r, &a, attempt, NULL) != 0)
			goto out;
	}
	log_info("event=email_confirmed user=%s version=%lld event_id=%s", next.id, next.version,
		 event_id);
	reg_reply_user(r, &next);
out:
	PQclear(res);
	json_put_wiped(body); /* json-c's copy of the token */
}

/* POST /api/registration/users/me/confirm-email/resend: 202, a new mail;
 * 409 when the address is confirmed already, 429 past mail_resend_limit
 * or mail_confirm_address_limit. */
void h_confirm_resend(struct http_req *r)
{
	struct account me;
	PGresult *failed;
	long wait;
	int rc;

	if (reg_caller(r, &me) != 0)
		return;
	if (me.email_confirmed) {
		http_error(r, 409, "already_confirmed", "The email address is confirmed already.",
			   NULL);
		return;
	}
	/* resend:<user> and confirm-address:<email> */
	wait = reg_confirm_rate(me.id, me.email, &failed);
	if (wait < 0) {
		reg_db_failed(r, failed, "mail_rate");
		PQclear(failed);
		return;
	}
	if (wait > 0) {
		log_info("event=mail_rate_limited kind=resend user=%s retry_after=%ld", me.id,
			 wait);
		reg_reply_rate_limited(r, wait, "Too many confirmation mails; try again later.");
		return;
	}
	rc = reg_mail_queue(REG_MAIL_CONFIRM, me.id, 0, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "mail_queue");
		PQclear(failed);
		return;
	}
	if (rc == 0) {
		http_error(r, 401, "invalid_token", "The user no longer exists.", NULL);
		return;
	}
	log_info("event=mail_queued template=confirm-email user=%s", me.id);
	{
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "success", json_object_new_boolean(1));
		json_object_object_add(
		    o, "message", json_object_new_string("A confirmation mail is on its way."));
		http_reply(r, 202, NULL, o);
	}
}
