/* account: read a user of MagentaUsers; write its changes with their
 * events. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "log.h"
#include "roles.h"

static struct db_stmt st_load = { "account_load",
	"SELECT " ACCOUNT_COLUMNS " FROM users WHERE id = $1::uuid", 1, 0 };

static struct db_stmt st_find = { "account_find",
	"SELECT " ACCOUNT_COLUMNS " FROM users"
	" WHERE CASE WHEN strpos($1, '@') > 0 THEN email = lower($1)"
	" ELSE lower(username) = lower($1) END", 1, 0 };

/* The row and its outbox row in one statement (one transaction); the
 * relay's wake-up is delivered at commit.  $13 the version read. */
static struct db_stmt st_update = { "account_update",
	"WITH u AS ("
	" UPDATE users SET username = $2, email = $3, password_hash = $4, security_stamp = $5,"
	"  email_confirmed = $6::boolean, lockout_enabled = $7::boolean,"
	"  lockout_end = $8::timestamptz, display_name = $9, roles = $10::text[],"
	"  updated_at = $11::timestamptz, version = $12::bigint"
	" WHERE id = $1::uuid AND version = $13::bigint RETURNING id),"
	" o AS ("
	" INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type,"
	"  routing_key, payload, created_at, request_id)"
	" SELECT $14::uuid, u.id, $12::bigint, 'UserUpdated', 'user.updated', $15::jsonb,"
	"  $11::timestamptz, $16 FROM u RETURNING event_id)"
	" SELECT pg_notify('magenta_outbox', o.event_id::text) FROM o", 16, 0 };

/* $2 the version read, $3 the tombstone's (+1). */
static struct db_stmt st_delete = { "account_delete",
	"WITH d AS (DELETE FROM users WHERE id = $1::uuid AND version = $2::bigint RETURNING id),"
	" t AS ("
	" INSERT INTO deleted_users (id, version, deleted_at, deleted_by, reason)"
	" SELECT d.id, $3::bigint, $4::timestamptz, $5::uuid, $6 FROM d RETURNING id),"
	" o AS ("
	" INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type,"
	"  routing_key, payload, created_at, request_id)"
	" SELECT $7::uuid, t.id, $3::bigint, 'UserDeleted', 'user.deleted', $8::jsonb,"
	"  $4::timestamptz, $9 FROM t RETURNING event_id)"
	" SELECT pg_notify('magenta_outbox', o.event_id::text) FROM o", 9, 0 };

static struct db_stmt st_republish = { "account_republish",
	"WITH o AS ("
	" INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type,"
	"  routing_key, payload, request_id)"
	" SELECT $2::uuid, u.id, u.version, 'UserUpdated', 'user.updated', $3::jsonb, $5"
	" FROM users u WHERE u.id = $1::uuid AND u.version = $4::bigint RETURNING event_id)"
	" SELECT pg_notify('magenta_outbox', o.event_id::text) FROM o", 5, 0 };

/* $1 the user, $4 the tombstone's version. */
static struct db_stmt st_republish_deletion = { "account_republish_deletion",
	"WITH o AS ("
	" INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type,"
	"  routing_key, payload, request_id)"
	" SELECT $2::uuid, d.id, d.version, 'UserDeleted', 'user.deleted', $3::jsonb, $5"
	" FROM deleted_users d WHERE d.id = $1::uuid AND d.version = $4::bigint RETURNING event_id)"
	" SELECT pg_notify('magenta_outbox', o.event_id::text) FROM o", 5, 0 };

/* Copy one column into a fixed field; -1 when it does not fit. */
static int col(char *dst, size_t cap, const PGresult *res, int row, int c)
{
	const char *v = PQgetvalue(res, row, c);
	size_t n = strlen(v);

	if (n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

int account_from_row(const PGresult *res, int row, int first, struct account *a)
{
	int f = first;

	memset(a, 0, sizeof(*a));
	if (PQnfields(res) < first + ACCOUNT_NCOLUMNS ||
	    col(a->id, sizeof(a->id), res, row, f + 0) != 0 ||
	    col(a->username, sizeof(a->username), res, row, f + 1) != 0 ||
	    col(a->email, sizeof(a->email), res, row, f + 2) != 0 ||
	    col(a->password_hash, sizeof(a->password_hash), res, row, f + 3) != 0 ||
	    col(a->security_stamp, sizeof(a->security_stamp), res, row, f + 4) != 0 ||
	    col(a->display_name, sizeof(a->display_name), res, row, f + 5) != 0 ||
	    col(a->lockout_end, sizeof(a->lockout_end), res, row, f + 6) != 0 ||
	    col(a->created_at, sizeof(a->created_at), res, row, f + 7) != 0 ||
	    col(a->updated_at, sizeof(a->updated_at), res, row, f + 8) != 0 ||
	    roles_from_pg(PQgetvalue(res, row, f + 11), &a->roles) != 0)
		return -1;
	a->email_confirmed = PQgetvalue(res, row, f + 9)[0] == 't';
	a->lockout_enabled = PQgetvalue(res, row, f + 10)[0] == 't';
	a->version = strtoll(PQgetvalue(res, row, f + 12), NULL, 10);
	return 0;
}

/* One row of st (param p) into a. */
static int load(struct db *db, struct db_stmt *st, const char *p, struct account *a,
		PGresult **failed)
{
	const char *params[] = { p };
	PGresult *res = db_exec_stmt(db, st, params, 1);

	*failed = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*failed = res;
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	if (account_from_row(res, 0, 0, a) != 0) {
		*failed = res; /* TUPLES_OK: the caller logs it as an internal error */
		return -1;
	}
	PQclear(res);
	return 1;
}

int account_load(struct db *db, const char *id, struct account *a, PGresult **failed)
{
	return load(db, &st_load, id, a, failed);
}

int account_find(struct db *db, const char *name, struct account *a, PGresult **failed)
{
	return load(db, &st_find, name, a, failed);
}

int account_locked(const struct account *a)
{
	char now[TIME_STRLEN + 1];

	if (!a->lockout_enabled || !a->lockout_end[0])
		return 0;
	event_time_now(now);
	/* both are UTC text of the same shape: they compare as times */
	return strcmp(a->lockout_end, now) > 0;
}

struct json_object *account_envelope(const struct account *a, const char *event_type,
				     const char *event_id, const char *occurred_at,
				     struct json_object *changed, const char *deleted_by,
				     const char *reason)
{
	struct event_user u = { .username = a->username,
				.email = a->email,
				.password_hash = a->password_hash,
				.security_stamp = a->security_stamp,
				.email_confirmed = a->email_confirmed,
				.lockout_enabled = a->lockout_enabled,
				.lockout_end = a->lockout_end[0] ? a->lockout_end : NULL,
				.created_at = a->created_at,
				.updated_at = a->updated_at,
				.display_name = a->display_name[0] ? a->display_name : NULL,
				.roles = a->roles };
	int deleted = strcmp(event_type, "UserDeleted") == 0;
	struct json_object *env = event_envelope_new(event_id, event_type, occurred_at, a->id,
						     (long)a->version, changed,
						     deleted ? NULL : &u);

	if (deleted)
		event_add_deletion(env, deleted_by, reason ? reason : "operator");
	return env;
}

PGresult *account_update(struct db *db, const struct account *a, struct json_object *changed,
			 char event_id[UUID_STRLEN + 1])
{
	struct json_object *env;
	char version[24], before[24], roles[64];
	PGresult *res;

	uuid7_new(event_id);
	env = account_envelope(a, "UserUpdated", event_id, a->updated_at, changed, NULL, NULL);
	snprintf(version, sizeof(version), "%lld", a->version);
	snprintf(before, sizeof(before), "%lld", a->version - 1);
	{
		const char *p[] = { a->id,
				    a->username,
				    a->email,
				    a->password_hash,
				    a->security_stamp,
				    a->email_confirmed ? "t" : "f",
				    a->lockout_enabled ? "t" : "f",
				    a->lockout_end[0] ? a->lockout_end : NULL,
				    a->display_name[0] ? a->display_name : NULL,
				    roles_to_pg(a->roles, roles, sizeof(roles)),
				    a->updated_at,
				    version,
				    before,
				    event_id,
				    json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN),
				    log_request_id() };
		res = db_exec_stmt(db, &st_update, p, 1);
	}
	json_object_put(env);
	return res;
}

PGresult *account_delete(struct db *db, const struct account *a, const char *deleted_by,
			 const char *reason, char event_id[UUID_STRLEN + 1])
{
	struct account gone = *a;
	struct json_object *env;
	char version[24], next[24], now[TIME_STRLEN + 1];
	PGresult *res;

	uuid7_new(event_id);
	event_time_now(now);
	gone.version = a->version + 1;
	env = account_envelope(&gone, "UserDeleted", event_id, now, NULL, deleted_by, reason);
	snprintf(version, sizeof(version), "%lld", a->version);
	snprintf(next, sizeof(next), "%lld", gone.version);
	{
		const char *p[] = { a->id,
				    version,
				    next,
				    now,
				    deleted_by,
				    reason,
				    event_id,
				    json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN),
				    log_request_id() };
		res = db_exec_stmt(db, &st_delete, p, 1);
	}
	json_object_put(env);
	return res;
}

PGresult *account_republish(struct db *db, const struct account *a,
			    char event_id[UUID_STRLEN + 1])
{
	struct json_object *env;
	char version[24], now[TIME_STRLEN + 1];
	PGresult *res;

	uuid7_new(event_id);
	event_time_now(now);
	env = account_envelope(a, "UserUpdated", event_id, now, NULL, NULL, NULL);
	snprintf(version, sizeof(version), "%lld", a->version);
	{
		const char *p[] = { a->id, event_id,
				    json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN),
				    version, log_request_id() };
		res = db_exec_stmt(db, &st_republish, p, 1);
	}
	json_object_put(env);
	return res;
}

PGresult *account_republish_deletion(struct db *db, const char *id, long long version,
				     const char *deleted_by, const char *reason,
				     char event_id[UUID_STRLEN + 1])
{
	struct json_object *env;
	char v[24], now[TIME_STRLEN + 1];
	PGresult *res;

	uuid7_new(event_id);
	event_time_now(now);
	env = event_envelope_new(event_id, "UserDeleted", now, id, (long)version, NULL, NULL);
	event_add_deletion(env, deleted_by, reason);
	snprintf(v, sizeof(v), "%lld", version);
	{
		const char *p[] = { id, event_id,
				    json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN), v,
				    log_request_id() };
		res = db_exec_stmt(db, &st_republish_deletion, p, 1);
	}
	json_object_put(env);
	return res;
}
