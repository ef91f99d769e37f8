/* register: POST /api/registration/register. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "event.h"
#include "log.h"
#include "mailtoken.h"
#include "pwhash.h"
#include "registration.h"
#include "uuid7.h"

/* One statement, hence one transaction: the user, its UserCreated outbox
 * row with the request's id ($10), the wake-up for the relay (delivered
 * at commit), and the confirmation mail: its token (the hash, $11, for
 * mail_confirm_ttl seconds, $12) and its request to magenta-mailer (the
 * token text, $13, until it is sent; mail_queue.c), only while the
 * address's counter (confirm-address:<email>, over $14 seconds) is within
 * mail_confirm_address_limit ($15).  A refused registration (409) rolls
 * the count back with the rest.  The second column: mails queued.
 * Prepared once per connection. */
static struct db_stmt st_insert = { "register_insert",
	"WITH u AS ("
	" INSERT INTO users (id, username, email, password_hash, security_stamp,"
	"  display_name, created_at, updated_at, version)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) RETURNING id),"
	" o AS ("
	" INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type,"
	"  routing_key, payload, created_at, request_id)"
	" SELECT $8, u.id, 1, 'UserCreated', 'user.created', $9::jsonb, $7, $10 FROM u"
	" RETURNING event_id),"
	" rl AS (" REG_SQL_RATE("'confirm-address:' || $3::text", "$14") "),"
	" t AS ("
	" INSERT INTO email_tokens (user_id, purpose, email, token_hash, expires_at)"
	" SELECT u.id, 'confirm', $3, $11::bytea, now() + $12::integer * interval '1 second'"
	" FROM u, rl WHERE rl.count <= $15::integer"
	" RETURNING id),"
	" m AS ("
	" INSERT INTO mail_outbox (template, recipient, token_id, params)"
	" SELECT 'confirm-email', $3, t.id, jsonb_build_object('token', $13::text, 'username', $2::text,"
	"  'validMinutes', $12::integer / 60) FROM t RETURNING id)"
	" SELECT pg_notify('magenta_outbox', o.event_id::text), (SELECT count(*) FROM m) FROM o", 15, 0 };

/* After a unique violation: which of the two is taken (both may be), and
 * whether the row is our own (see h_register). */
static struct db_stmt st_taken = { "register_taken",
	"SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1)),"
	" EXISTS (SELECT 1 FROM users WHERE email = $2),"
	" EXISTS (SELECT 1 FROM users WHERE id = $3)", 3, 0 };

struct reg_input {
	const char *username, *email, *password, *confirm, *display_name;
	size_t ulen, elen, plen, clen, dlen;
	char email_lc[EMAIL_MAX + 1];
};

/* Apply every rule (users_rules.c), collecting all violations into
 * errors. */
static void reg_validate(struct json_object *body, struct reg_input *in, struct json_object *errors)
{
	int have_u, have_e, have_p, have_c;

	have_u = http_need_str(body, "username", "Username", HTTP_STR_NO_NUL, 0, &in->username,
			       &in->ulen, errors) == 0;
	have_e = http_need_str(body, "email", "Email", HTTP_STR_NO_NUL, 0, &in->email,
			       &in->elen, errors) == 0;
	have_p = http_need_str(body, "password", "Password", HTTP_STR_NO_NUL, 0, &in->password,
			       &in->plen, errors) == 0;
	have_c = http_need_str(body, "confirmPassword", "Password confirmation", HTTP_STR_NO_NUL,
			       0, &in->confirm, &in->clen, errors) == 0;

	if (have_u && rule_username(in->username, in->ulen, errors) != 0)
		have_u = 0;
	if (have_e && rule_email(in->email, in->elen, in->email_lc, errors) != 0)
		have_e = 0;
	if (have_p)
		rule_password(in->password, in->plen, "password", have_u ? in->username : NULL,
			      in->ulen, have_e ? in->email : NULL, in->elen, errors);
	if (have_p && have_c)
		rule_confirm(in->password, in->plen, in->confirm, in->clen, errors);
	rule_display_name(body, &in->display_name, &in->dlen, errors);
}

/* Add the conflict entries for whatever is taken; 1 if any. */
static int add_taken(struct json_object *errors, int user_taken, int email_taken)
{
	if (user_taken)
		http_errors_add(errors, "username", "username_taken", "Username is already taken.");
	if (email_taken)
		http_errors_add(errors, "email", "email_taken", "Email is already registered.");
	return user_taken || email_taken;
}

/* A unique violation: 1 when the row is our own (id) — a retried insert
 * whose first attempt had committed; else 0 after replying 409, naming
 * every taken field (the index that fired names one, a second look finds
 * whether the other is taken too).  The unique indexes alone decide, so
 * identical requests that race get exactly one 201.  Consumes errors. */
static int conflict(struct http_req *r, const struct reg_input *in, const char *id,
		    const PGresult *failed, struct json_object *errors)
{
	const char *cons = PQresultErrorField(failed, PG_DIAG_CONSTRAINT_NAME);
	int email = cons && strstr(cons, "email") != NULL;
	int user_taken = !email, email_taken = email;
	const char *p[] = { in->username, in->email_lc, id };
	PGresult *res = db_exec_stmt(&reg.db, &st_taken, p, 1);

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		if (PQgetvalue(res, 0, 2)[0] == 't') {
			PQclear(res);
			json_object_put(errors);
			log_info("event=register_retry_committed user=%s", id);
			return 1;
		}
		user_taken |= PQgetvalue(res, 0, 0)[0] == 't';
		email_taken |= PQgetvalue(res, 0, 1)[0] == 't';
	}
	PQclear(res);
	add_taken(errors, user_taken, email_taken);
	log_info("event=register_conflict username=%d email=%d", user_taken, email_taken);
	http_errors(r, 409, errors);
	return 0;
}

/* Create the user and its UserCreated event. */
void h_register(struct http_req *r)
{
	struct json_object *body = NULL, *errors = json_object_new_array(), *env = NULL, *o;
	struct reg_input in;
	char id[UUID_STRLEN + 1], event_id[UUID_STRLEN + 1], now[TIME_STRLEN + 1];
	char stamp[33], hash[PWHASH_STRBYTES], loc[96], ttl[16], window[16], limit[16];
	char mtoken[MAILTOKEN_STRLEN + 1], mhash[MAILTOKEN_HASH_PGLEN + 1];
	unsigned char rnd[16];
	PGresult *res = NULL;

	memset(&in, 0, sizeof(in));
	hash[0] = '\0';
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		goto out;
	reg_validate(body, &in, errors);
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}

	if (pwhash_hash(hash, in.password, in.plen) != 0) {
		log_error("event=pwhash_failed");
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	uuid7_new(id);
	uuid7_new(event_id);
	event_time_now(now);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(stamp, sizeof(stamp), rnd, sizeof(rnd));
	mailtoken_new(mtoken);
	if (mailtoken_hash_pg(mtoken, MAILTOKEN_STRLEN, mhash) != 0)
		abort(); /* our own token is well-formed */
	snprintf(ttl, sizeof(ttl), "%ld", conf_int(CONF_MAIL_CONFIRM_TTL));
	snprintf(window, sizeof(window), "%ld", conf_int(CONF_MAIL_RATE_WINDOW));
	snprintf(limit, sizeof(limit), "%ld", conf_int(CONF_MAIL_CONFIRM_ADDRESS_LIMIT));
	{
		struct event_user u = { .username = in.username,
					.email = in.email_lc,
					.password_hash = hash,
					.security_stamp = stamp,
					.email_confirmed = 0,
					.lockout_enabled = 1,
					.lockout_end = NULL,
					.created_at = now,
					.updated_at = now,
					.display_name = in.display_name,
					.roles = 0 };
		env = event_envelope_new(event_id, "UserCreated", now, id, 1, NULL, &u);
	}
	{
		const char *p[] = { id, in.username, in.email_lc, hash, stamp, in.display_name,
				    now, event_id, json_plain(env), r->id, mhash, ttl, mtoken,
				    window, limit };
		/* Retried once on a connection found broken (the server restarted
		 * since the last request).  Should the first attempt have
		 * committed after all, the retry hits our own id: see conflict(). */
		res = db_exec_stmt(&reg.db, &st_insert, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (db_unique_violation(res)) {
			int ours = conflict(r, &in, id, res, errors);
			errors = NULL;
			if (!ours)
				goto out;
		} else {
			if (db_unavailable(&reg.db, res)) {
				http_unavailable(r, conf_int(CONF_RETRY_AFTER));
			} else {
				db_log_error("register_insert", res);
				http_error(r, 500, "internal_error", "Internal error.", NULL);
			}
			goto out;
		}
	}

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "0") == 0)
		log_info("event=mail_rate_limited kind=confirm_register user=%s msg=\"past "
			 "mail_confirm_address_limit: registered without a confirmation mail\"",
			 id);
	log_info("event=user_registered user=%s event_id=%s", id, event_id);
	snprintf(loc, sizeof(loc), "Location: /api/registration/users/%s\r\n", id);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "userId", json_object_new_string(id));
	json_object_object_add(o, "username", json_object_new_string(in.username));
	json_object_object_add(o, "email", json_object_new_string(in.email_lc));
	http_reply(r, 201, loc, o);
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(mtoken, sizeof(mtoken));
	PQclear(res);
	json_object_put(env);
	json_object_put(errors);
	json_put_wiped(body); /* json-c's copies of the passwords */
}
