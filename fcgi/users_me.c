/* users_me: a user's own account — GET, PATCH and DELETE
 * /api/registration/users/me — and GET /api/registration/users/{id}.
 *
 * Every change is optimistic (account.h): the row is read, the new state
 * built, and written with its outbox row only if the version is still the
 * one read.  A client that sent If-Match gets 412 when it is not; one that
 * did not is served by reading again (a few times). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "event.h"
#include "log.h"
#include "registration.h"
#include "roles.h"

/* The members a PATCH may name. */
static const char *const patch_members[] = { "displayName", "username", "email",
					     "currentPassword" };

/* The requested profile change, validated. */
struct patch {
	const char *username, *email, *display_name, *password;
	size_t ulen, elen, dlen, plen;
	int has_username, has_email, has_password;
	int dn; /* rule_display_name: 0 set, 1 clear, 2 absent */
	char email_lc[EMAIL_MAX + 1];
};

/* Read and check the body of a PATCH; -1 after replying 400. */
static int patch_read(struct http_req *r, struct json_object *body, struct patch *p)
{
	struct json_object *errors = json_object_new_array();

	memset(p, 0, sizeof(*p));
	json_object_object_foreach(body, key, val)
	{
		size_t i;
		(void)val;
		for (i = 0; i < sizeof(patch_members) / sizeof(patch_members[0]); i++)
			if (strcmp(key, patch_members[i]) == 0)
				break;
		if (i == sizeof(patch_members) / sizeof(patch_members[0])) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "Unknown member; a profile change may name displayName, username, "
				 "email and currentPassword.");
			http_errors_add(errors, key[0] && strlen(key) < 64 ? key : NULL,
					"unknown_field", msg);
		}
	}
	if (json_object_object_get_ex(body, "username", NULL)) {
		p->has_username = http_need_str(body, "username", "Username", HTTP_STR_NO_NUL, 0,
						&p->username, &p->ulen, errors) == 0 &&
				  rule_username(p->username, p->ulen, errors) == 0;
	}
	if (json_object_object_get_ex(body, "email", NULL)) {
		p->has_email = http_need_str(body, "email", "Email", HTTP_STR_NO_NUL, 0, &p->email,
					     &p->elen, errors) == 0 &&
			       rule_email(p->email, p->elen, p->email_lc, errors) == 0;
	}
	if (json_object_object_get_ex(body, "currentPassword", NULL))
		p->has_password = http_need_str(body, "currentPassword", "Current password",
						HTTP_STR_NO_NUL, 0, &p->password, &p->plen,
						errors) == 0;
	p->dn = rule_display_name(body, &p->display_name, &p->dlen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		return -1;
	}
	json_object_put(errors);
	return 0;
}

/* Apply p to a (the state read); the names of what changed, in a new
 * array (empty when nothing did). */
static struct json_object *patch_apply(struct account *a, const struct patch *p)
{
	struct json_object *changed = json_object_new_array();

	if (p->has_username && strcmp(a->username, p->username) != 0) {
		snprintf(a->username, sizeof(a->username), "%s", p->username);
		json_object_array_add(changed, json_object_new_string("username"));
	}
	if (p->has_email && strcmp(a->email, p->email_lc) != 0) {
		snprintf(a->email, sizeof(a->email), "%s", p->email_lc);
		a->email_confirmed = 0; /* a new address is not confirmed */
		json_object_array_add(changed, json_object_new_string("email"));
		json_object_array_add(changed, json_object_new_string("emailConfirmed"));
	}
	if (p->dn != 2) {
		char dn[EVENT_DISPLAY_NAME_MAX + 1];
		snprintf(dn, sizeof(dn), "%.*s", p->dn == 0 ? (int)p->dlen : 0,
			 p->dn == 0 ? p->display_name : "");
		if (strcmp(dn, a->display_name) != 0) {
			memcpy(a->display_name, dn, sizeof(dn));
			json_object_array_add(changed, json_object_new_string("displayName"));
		}
	}
	return changed;
}

/* 1 when changed names a member that needs the current password. */
static int needs_reauth(struct json_object *changed)
{
	for (size_t i = 0; i < json_object_array_length(changed); i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(changed, i));
		if (strcmp(f, "username") == 0 || strcmp(f, "email") == 0)
			return 1;
	}
	return 0;
}

/* 409 naming the field whose unique index refused the change. */
static void reply_taken(struct http_req *r, const PGresult *res)
{
	const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	struct json_object *errors = json_object_new_array();

	if (cons && strstr(cons, "email"))
		http_errors_add(errors, "email", "email_taken", "Email is already registered.");
	else
		http_errors_add(errors, "username", "username_taken", "Username is already taken.");
	log_info("event=profile_conflict constraint=%s", cons ? cons : "?");
	http_errors(r, 409, errors);
}

/* 412: the version named by If-Match is not the current one. */
static void reply_stale(struct http_req *r, const struct account *a)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "The account has changed (version %lld); read it again.",
		 a->version);
	http_error(r, 412, "version_mismatch", msg, NULL);
}

/* Inside the open transaction of an email change to a's address: spend
 * the user's open reset tokens (sent to the old address), and queue the
 * confirmation mail unless the address or the user is past its limit
 * (mail_confirm_address_limit, mail_resend_limit: the change is made, no
 * mail; logged).  -1 after replying 5xx. */
static int queue_confirm(struct http_req *r, const struct account *a)
{
	PGresult *failed;
	long wait;

	if (reg_mail_spend_resets(a->id, &failed) != 0)
		goto failed;
	wait = reg_confirm_rate(a->id, a->email, &failed);
	if (wait < 0)
		goto failed;
	if (wait > 0) {
		log_info("event=mail_rate_limited kind=confirm_email_change user=%s retry_after=%ld "
			 "msg=\"the address changes, no confirmation mail is sent\"",
			 a->id, wait);
		return 0;
	}
	if (reg_mail_queue(REG_MAIL_CONFIRM, a->id, 0, &failed) >= 0)
		return 0;
failed:
	reg_db_failed(r, failed, "mail_queue");
	PQclear(failed);
	return -1;
}

/* COMMIT the open transaction; -1 after replying 503/500. */
static int commit(struct http_req *r)
{
	if (db_commit(&reg.db) == 0)
		return 0;
	/* its outcome is unknown: the client reads the account again */
	reg_db_failed(r, NULL, "profile_commit");
	return -1;
}

/* GET /api/registration/users/me */
void h_me_get(struct http_req *r)
{
	struct account me;

	if (reg_caller(r, &me) != 0)
		return;
	reg_reply_user(r, &me);
}

/* GET /api/registration/users/{id}: self or an admin; anyone else gets
 * the 404 of an unknown id, so ids cannot be probed. */
void h_user_get(struct http_req *r)
{
	static const char prefix[] = "/api/registration/users/";
	const char *id = r->path + sizeof(prefix) - 1;
	struct account me, u;
	PGresult *failed;
	int rc;

	if (reg_caller(r, &me) != 0)
		return;
	if (!uuid_valid(id) || (strcmp(id, me.id) != 0 && !(me.roles & ROLE_ADMIN))) {
		http_error(r, 404, "not_found", "No such user.", NULL);
		return;
	}
	rc = account_load(&reg.db, id, &u, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "user_get");
		PQclear(failed);
	} else if (rc == 0) {
		http_error(r, 404, "not_found", "No such user.", NULL);
	} else {
		reg_reply_user(r, &u);
	}
}

/* PATCH /api/registration/users/me {displayName?, username?, email?,
 * currentPassword?} */
void h_me_patch(struct http_req *r)
{
	struct json_object *body = NULL, *changed = NULL;
	struct account me, next;
	struct patch p;
	char event_id[UUID_STRLEN + 1];
	char verified[ACCOUNT_HASH_MAX + 1]; /* the hash the password was checked against */
	long long want = reg_if_match(r);
	PGresult *res = NULL;
	int reauthed = 0, mail = 0;

	if (reg_caller(r, &me) != 0)
		return;
	if (want < 0) {
		http_error(r, 400, "invalid_if_match", "If-Match must be a quoted version: \"3\".",
			   NULL);
		return;
	}
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		return;
	if (patch_read(r, body, &p) != 0)
		goto out;
	for (int attempt = 0;; attempt++) {
		if (want && want != me.version) {
			reply_stale(r, &me);
			goto out;
		}
		next = me;
		json_object_put(changed);
		changed = patch_apply(&next, &p);
		if (json_object_array_length(changed) == 0) {
			reg_reply_user(r, &me); /* nothing to change: no event */
			goto out;
		}
		if (needs_reauth(changed) && !reauthed) {
			if (!p.has_password) {
				http_error(r, 403, "reauth_required",
					   "Changing the username or email needs currentPassword.",
					   "currentPassword");
				goto out;
			}
			if (reg_reauth(r, &me, p.password, p.plen) != 0)
				goto out;
			reauthed = 1;
			memcpy(verified, me.password_hash, sizeof(verified));
		}
		next.version = me.version + 1;
		event_time_now(next.updated_at);
		/* a new address gets its confirmation mail, and the reset
		 * tokens of the old one are spent, in the same transaction as
		 * the change (mail_queue.c) */
		mail = strcmp(next.email, me.email) != 0;
		if (mail && db_begin(&reg.db) != 0) {
			reg_db_failed(r, NULL, "profile_begin");
			goto out;
		}
		res = account_update(&reg.db, &next, json_object_get(changed), event_id);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
			if (mail && (queue_confirm(r, &next) != 0 || commit(r) != 0))
				goto out;
			log_info("event=profile_changed user=%s version=%lld event_id=%s", next.id,
				 next.version, event_id);
			reg_reply_user(r, &next);
			goto out;
		}
		if (mail)
			db_rollback(&reg.db);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			if (db_unique_violation(res))
				reply_taken(r, res);
			else
				reg_db_failed(r, res, "profile_update");
			goto out;
		}
		/* the version moved meanwhile: read it again */
		PQclear(res);
		res = NULL;
		if (reg_retry(r, &me, attempt, NULL) != 0)
			goto out;
		if (reauthed && strcmp(verified, me.password_hash) != 0)
			reauthed = 0; /* the password changed meanwhile: check again */
	}
out:
	if (mail)
		db_rollback(&reg.db); /* a no-op after the COMMIT */
	sodium_memzero(verified, sizeof(verified));
	PQclear(res);
	json_object_put(changed);
	json_put_wiped(body);
}

/* DELETE /api/registration/users/me {password}: 204; the row goes, its
 * tombstone and a UserDeleted event stay (account_delete). */
void h_me_delete(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array();
	struct account me;
	const char *pw;
	size_t plen;
	char event_id[UUID_STRLEN + 1];
	char verified[ACCOUNT_HASH_MAX + 1] = ""; /* the hash the password was checked against */
	long long want = reg_if_match(r);
	PGresult *res = NULL;

	if (reg_caller(r, &me) != 0)
		goto out;
	if (want < 0) {
		http_error(r, 400, "invalid_if_match", "If-Match must be a quoted version: \"3\".",
			   NULL);
		goto out;
	}
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	if (http_need_str(body, "password", "Password", HTTP_STR_NO_NUL, 0, &pw, &plen, errors) !=
	    0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	if (want && want != me.version) {
		reply_stale(r, &me);
		goto out;
	}
	if (reg_reauth(r, &me, pw, plen) != 0)
		goto out;
	memcpy(verified, me.password_hash, sizeof(verified));
	for (int attempt = 0;; attempt++) {
		res = account_delete(&reg.db, &me, me.id, "self", event_id);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			reg_db_failed(r, res, "account_delete");
			goto out;
		}
		if (PQntuples(res) == 1)
			break;
		PQclear(res);
		res = NULL;
		/* changed meanwhile: the password given must still be the
		 * account's */
		if (reg_retry(r, &me, attempt, verified) != 0)
			goto out;
		if (want) {
			reply_stale(r, &me);
			goto out;
		}
	}
	log_info("event=account_deleted user=%s by=self event_id=%s", me.id, event_id);
	http_reply(r, 204, NULL, NULL);
out:
	sodium_memzero(verified, sizeof(verified));
	PQclear(res);
	json_object_put(errors);
	json_put_wiped(body);
}
