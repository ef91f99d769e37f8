/* users_password: POST /api/registration/users/me/password
 * {currentPassword, newPassword, confirmPassword}.
 *
 * A new argon2id hash and a new security stamp, written with a UserUpdated
 * event (changedFields passwordHash, securityStamp): the authentication
 * service then revokes every session of the user (docs/auth.md).  The
 * user's open reset tokens are spent in the same transaction. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "event.h"
#include "log.h"
#include "pwhash.h"
#include "registration.h"
#include "service.h"

/* The three members, checked; -1 after replying 400. */
static int read_body(struct http_req *r, struct json_object *body, const struct account *me,
		     const char **cur, size_t *clen, const char **pw, size_t *plen)
{
	struct json_object *errors = json_object_new_array();
	const char *confirm;
	size_t conflen;
	int have_p, have_c;

	http_need_str(body, "currentPassword", "Current password", HTTP_STR_NO_NUL, 0, cur, clen,
		      errors);
	have_p = http_need_str(body, "newPassword", "New password", HTTP_STR_NO_NUL, 0, pw, plen,
			       errors) == 0;
	have_c = http_need_str(body, "confirmPassword", "Password confirmation", HTTP_STR_NO_NUL,
			       0, &confirm, &conflen, errors) == 0;
	if (have_p)
		rule_password(*pw, *plen, "newPassword", me->username, strlen(me->username),
			      me->email, strlen(me->email), errors);
	if (have_p && have_c)
		rule_confirm(*pw, *plen, confirm, conflen, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		return -1;
	}
	json_object_put(errors);
	return 0;
}

/* Spend the open reset tokens of user and COMMIT; -1 after rolling back
 * and replying 5xx. */
static int spend_resets(struct http_req *r, const char *user)
{
	PGresult *failed;

	if (reg_mail_spend_resets(user, &failed) != 0) {
		db_rollback(&reg.db);
		reg_db_failed(r, failed, "password_spend_resets");
		PQclear(failed);
		return -1;
	}
	if (db_commit(&reg.db) != 0) {
		/* its outcome is unknown: the client reads the account again */
		reg_db_failed(r, NULL, "password_commit");
		return -1;
	}
	return 0;
}

void h_me_password(struct http_req *r)
{
	struct json_object *body = NULL, *changed;
	struct account me, next;
	const char *cur, *pw;
	size_t clen, plen;
	char hash[PWHASH_STRBYTES], verified[ACCOUNT_HASH_MAX + 1], event_id[UUID_STRLEN + 1];
	unsigned char rnd[16];
	PGresult *res = NULL;

	hash[0] = verified[0] = '\0';
	if (reg_caller(r, &me) != 0)
		return;
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		return;
	if (read_body(r, body, &me, &cur, &clen, &pw, &plen) != 0)
		goto out;
	if (reg_reauth(r, &me, cur, clen) != 0)
		goto out;
	memcpy(verified, me.password_hash, sizeof(verified));
	if (pwhash_hash(hash, pw, plen) != 0) {
		log_error("event=pwhash_failed");
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		next = me;
		snprintf(next.password_hash, sizeof(next.password_hash), "%s", hash);
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(next.security_stamp, sizeof(next.security_stamp), rnd, sizeof(rnd));
		next.version = me.version + 1;
		event_time_now(next.updated_at);
		changed = json_object_new_array();
		json_object_array_add(changed, json_object_new_string("passwordHash"));
		json_object_array_add(changed, json_object_new_string("securityStamp"));
		/* the new password and the end of the open reset tokens: one
		 * transaction (a reset mailed before must not undo this) */
		if (db_begin(&reg.db) != 0) {
			json_object_put(changed);
			reg_db_failed(r, NULL, "password_begin");
			goto out;
		}
		res = account_update(&reg.db, &next, changed, event_id);
		sodium_memzero(next.password_hash, sizeof(next.password_hash));
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			db_rollback(&reg.db);
			reg_db_failed(r, res, "password_update");
			goto out;
		}
		if (PQntuples(res) == 1) {
			if (spend_resets(r, me.id) != 0)
				goto out;
			break;
		}
		db_rollback(&reg.db);
		PQclear(res);
		res = NULL;
		if (reg_retry(r, &me, attempt, verified) != 0)
			goto out;
	}
	log_info("event=password_changed user=%s version=%lld event_id=%s", me.id, next.version,
		 event_id);
	reg_reply_user(r, &next);
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(verified, sizeof(verified));
	sodium_memzero(&me, sizeof(me));
	PQclear(res);
	json_put_wiped(body);
}
