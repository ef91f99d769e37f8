/* users_admin: the administrators' endpoints (role admin, users.roles;
 * granted only by magentactl user grant-admin):
 *   GET    /api/registration/admin/users?q=&limit=&after=
 *   POST   /api/registration/admin/users/{id}/lock {until?}
 *   POST   /api/registration/admin/users/{id}/unlock
 *   DELETE /api/registration/admin/users/{id}
 * A caller without the role gets 403.  Locks and unlocks are UserUpdated
 * events (lockoutEnd), deletions UserDeleted (reason "admin"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "event.h"
#include "form.h"
#include "log.h"
#include "registration.h"
#include "roles.h"

#define QUERY_MAX 254 /* longest q: an email */

/* the routes under it are matched by prefix (fcgi/registration.c) */
#define USERS_PREFIX "/api/registration/admin/users/"

/* $1 a LIKE prefix pattern (lower case, escaped; "" for all), $2 the id to
 * start after (NULL: the first), $3 the page size. */
static struct db_stmt st_search = { "admin_search",
	"SELECT " ACCOUNT_COLUMNS " FROM users"
	" WHERE ($1 = '' OR lower(username) LIKE $1 || '%' ESCAPE '\\'"
	"        OR email LIKE $1 || '%' ESCAPE '\\')"
	"   AND ($2::uuid IS NULL OR id > $2::uuid)"
	" ORDER BY id LIMIT $3::integer", 3, 0 };

/* $1 a timestamp: in UTC text like the events', and whether it is ahead. */
static struct db_stmt st_until = { "admin_until",
	"SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	" $1::timestamptz > now()", 1, 0 };

/* The caller, who must be an administrator; -1 after replying. */
static int admin_caller(struct http_req *r, struct account *me)
{
	if (reg_caller(r, me) != 0)
		return -1;
	if (!(me->roles & ROLE_ADMIN)) {
		log_info("event=admin_refused user=%s", me->id);
		http_error(r, 403, "forbidden", "This needs the admin role.", NULL);
		return -1;
	}
	return 0;
}

/* The value of key in the parsed query string f into out (cap bytes): 0
 * found, 1 absent, -1 too long or holding a control character. */
static int query_get(const struct form *f, const char *key, char *out, size_t cap)
{
	size_t n;
	const char *v = form_get(f, key, &n);

	if (!v)
		return 1;
	if (n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -1;
	memcpy(out, v, n + 1);
	return 0;
}

/* GET /api/registration/admin/users?q=&limit=&after= */
void h_admin_search(struct http_req *r)
{
	const char *qs = http_param(r, "QUERY_STRING");
	char q[QUERY_MAX + 1] = "", like[2 * QUERY_MAX + 1], after[64] = "", lim[16] = "",
	     page[16];
	struct json_object *errors = json_object_new_array(), *list, *o;
	const char *qcode, *qmsg;
	struct account me, u;
	struct form f;
	long limit = 20;
	PGresult *res = NULL;
	size_t n = 0;
	int rows;

	memset(&f, 0, sizeof(f));
	if (admin_caller(r, &me) != 0)
		goto out;
	/* a query string is encoded as a form body is (lib/form.c) */
	if (form_parse(qs ? qs : "", qs ? strlen(qs) : 0, &f, &qcode, &qmsg) != 0) {
		http_error(r, 400, "invalid_query", qmsg, NULL);
		goto out;
	}
	if (query_get(&f, "q", q, sizeof(q)) < 0)
		http_errors_add(errors, "q", "invalid_format",
				"q must be at most 254 characters, without control characters.");
	if (query_get(&f, "after", after, sizeof(after)) < 0 || (after[0] && !uuid_valid(after)))
		http_errors_add(errors, "after", "invalid_format",
				"after must be a user id (the \"next\" of the page before).");
	if (query_get(&f, "limit", lim, sizeof(lim)) < 0 ||
	    (lim[0] && ((limit = strtol(lim, NULL, 10)) < 1 ||
			limit > conf_int(CONF_ADMIN_PAGE_MAX) ||
			strspn(lim, "0123456789") != strlen(lim)))) {
		char msg[96];
		snprintf(msg, sizeof(msg), "limit must be a number from 1 to %ld.",
			 conf_int(CONF_ADMIN_PAGE_MAX));
		http_errors_add(errors, "limit", "invalid_format", msg);
	}
	if (json_object_array_length(errors) > 0) {
		http_errors(r, 400, errors);
		errors = NULL;
		goto out;
	}
	/* a prefix, case-insensitively, with LIKE's own characters escaped */
	for (const char *s = q; *s; s++) {
		char c = (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s;
		if (c == '%' || c == '_' || c == '\\')
			like[n++] = '\\';
		like[n++] = c;
	}
	like[n] = '\0';
	snprintf(page, sizeof(page), "%ld", limit);
	{
		const char *p[] = { like, after[0] ? after : NULL, page };
		res = db_exec_stmt(&reg.db, &st_search, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		reg_db_failed(r, res, "admin_search");
		goto out;
	}
	rows = PQntuples(res);
	list = json_object_new_array();
	for (int i = 0; i < rows; i++)
		if (account_from_row(res, i, 0, &u) == 0)
			json_object_array_add(list, reg_user_json(&u));
	o = json_object_new_object();
	json_object_object_add(o, "users", list);
	json_object_object_add(o, "next", rows == limit && rows > 0
						  ? json_object_new_string(PQgetvalue(res, rows - 1, 0))
						  : NULL);
	http_reply(r, 200, NULL, o);
out:
	form_free(&f);
	PQclear(res);
	json_object_put(errors);
}

/* The user {id} of a path under USERS_PREFIX (its id part is the first
 * UUID_STRLEN bytes, then rest); -1 after replying 404. */
static int target(struct http_req *r, const char *rest_want, struct account *u)
{
	const char *id = r->path + sizeof(USERS_PREFIX) - 1;
	char idbuf[UUID_STRLEN + 1];
	PGresult *failed;
	int rc;

	if (strlen(id) < UUID_STRLEN || strcmp(id + UUID_STRLEN, rest_want) != 0) {
		http_error(r, 404, "not_found", "No such resource.", NULL);
		return -1;
	}
	memcpy(idbuf, id, UUID_STRLEN);
	idbuf[UUID_STRLEN] = '\0';
	if (!uuid_valid(idbuf)) {
		http_error(r, 404, "not_found", "No such user.", NULL);
		return -1;
	}
	rc = account_load(&reg.db, idbuf, u, &failed);
	if (rc < 0) {
		reg_db_failed(r, failed, "admin_target");
		PQclear(failed);
		return -1;
	}
	if (rc == 0) {
		http_error(r, 404, "not_found", "No such user.", NULL);
		return -1;
	}
	return 0;
}

/* The lock's end from {until?} into until (ACCOUNT_LOCK_FOREVER when
 * absent); -1 after replying 400/5xx. */
static int lock_until(struct http_req *r, char until[TIME_STRLEN + 1])
{
	struct json_object *body = NULL;
	const char *s, *len_param = http_param(r, "CONTENT_LENGTH");
	size_t len;
	PGresult *res;
	int rc = 0;

	snprintf(until, TIME_STRLEN + 1, "%s", ACCOUNT_LOCK_FOREVER);
	if (!len_param || !*len_param || strcmp(len_param, "0") == 0)
		return 0; /* no body: indefinitely */
	if (http_json_body(r, (size_t)conf_int(CONF_BODY_LIMIT), &body) != 0)
		return -1;
	rc = json_get_str(body, "until", &s, &len);
	if (rc == 1) {
		json_object_put(body);
		return 0;
	}
	if (rc < 0 || !event_time_valid(s)) {
		http_error(r, 400, "invalid_format",
			   "until must be an RFC 3339 time, such as 2027-01-31T12:00:00Z.", "until");
		json_object_put(body);
		return -1;
	}
	{
		const char *p[] = { s };
		res = db_exec_stmt(&reg.db, &st_until, p, 1);
	}
	json_object_put(body);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		reg_db_failed(r, res, "admin_until");
		PQclear(res);
		return -1;
	}
	if (PQgetvalue(res, 0, 1)[0] != 't') {
		http_error(r, 400, "invalid_format", "until must be in the future.", "until");
		PQclear(res);
		return -1;
	}
	snprintf(until, TIME_STRLEN + 1, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Write lockout_end = until ("" to unlock) on u; replies. */
static void set_lock(struct http_req *r, const struct account *me, struct account *u,
		     const char *until)
{
	char event_id[UUID_STRLEN + 1];
	struct account next;
	PGresult *res;

	for (int attempt = 0;; attempt++) {
		struct json_object *changed;
		if (strcmp(u->lockout_end, until) == 0 && (!until[0] || u->lockout_enabled)) {
			reg_reply_user(r, u); /* already so: no event */
			return;
		}
		next = *u;
		changed = json_object_new_array();
		snprintf(next.lockout_end, sizeof(next.lockout_end), "%s", until);
		json_object_array_add(changed, json_object_new_string("lockoutEnd"));
		if (until[0] && !next.lockout_enabled) {
			next.lockout_enabled = 1;
			json_object_array_add(changed, json_object_new_string("lockoutEnabled"));
		}
		next.version = u->version + 1;
		event_time_now(next.updated_at);
		res = account_update(&reg.db, &next, changed, event_id);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			reg_db_failed(r, res, "admin_lock");
			PQclear(res);
			return;
		}
		if (PQntuples(res) == 1) {
			PQclear(res);
			break;
		}
		PQclear(res);
		if (reg_retry(r, u, attempt, NULL) != 0)
			return;
	}
	log_info("event=%s user=%s by=%s version=%lld event_id=%s",
		 until[0] ? "account_locked" : "account_unlocked", next.id, me->id, next.version,
		 event_id);
	reg_reply_user(r, &next);
}

/* POST /api/registration/admin/users/{id}/lock or /unlock */
void h_admin_user_post(struct http_req *r)
{
	const char *rest = r->path + sizeof(USERS_PREFIX) - 1;
	int lock = strlen(rest) > UUID_STRLEN && strcmp(rest + UUID_STRLEN, "/lock") == 0;
	char until[TIME_STRLEN + 1] = "";
	struct account me, u;

	if (admin_caller(r, &me) != 0)
		return;
	if (target(r, lock ? "/lock" : "/unlock", &u) != 0)
		return;
	if (lock && strcmp(u.id, me.id) == 0) {
		http_error(r, 400, "cannot_lock_self", "An administrator cannot lock themselves.",
			   NULL);
		return;
	}
	if (lock && lock_until(r, until) != 0)
		return;
	set_lock(r, &me, &u, until);
}

/* DELETE /api/registration/admin/users/{id} */
void h_admin_user_delete(struct http_req *r)
{
	char event_id[UUID_STRLEN + 1];
	struct account me, u;
	PGresult *res;

	if (admin_caller(r, &me) != 0)
		return;
	if (target(r, "", &u) != 0)
		return;
	if (strcmp(u.id, me.id) == 0) {
		http_error(r, 400, "cannot_delete_self",
			   "Delete your own account with DELETE /api/registration/users/me.", NULL);
		return;
	}
	for (int attempt = 0;; attempt++) {
		res = account_delete(&reg.db, &u, me.id, "admin", event_id);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			reg_db_failed(r, res, "admin_delete");
			PQclear(res);
			return;
		}
		if (PQntuples(res) == 1) {
			PQclear(res);
			break;
		}
		PQclear(res);
		if (reg_retry(r, &u, attempt, NULL) != 0)
			return;
	}
	log_info("event=account_deleted user=%s by=%s event_id=%s", u.id, me.id, event_id);
	http_reply(r, 204, NULL, NULL);
}
