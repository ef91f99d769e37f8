/* trace: the path of a user's, an event's or a request's events through
 * the pipeline (docs/operations.md, "Correlation and trace"): its outbox
 * row in MagentaUsers (created, published), and in MagentaAuthentication
 * what the consumer did with it (processed_events: outcome and time), a
 * parked entry, a rejection to the dead-letter queue (rejected_messages).
 *
 * KEY is a user id or an event id (a UUID), a username or an email (a user
 * of MagentaUsers), or a request id (X-Request-Id); every reading that
 * fits is looked up and the events found are merged by event id.  Exit 0
 * found, 1 nothing found, 2 a database could not be read, 3 usage. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "account.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "magentactl.h"
#include "uuid7.h"
#include "validate.h"

#define TRACE_MAX 200 /* events shown, newest last */

/* SQL, laid out as SQL */
/* clang-format off */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1 the key as text (a request id), $2 the key as a UUID (an event or a
 * user id) or NULL, $3 the user a name named or NULL (of MagentaUsers). */
static const char sql_outbox[] =
	"SELECT event_id::text, event_type, aggregate_id::text, aggregate_version, request_id,"
	" " TS("created_at") ", " TS("published_at") ", attempts, last_error"
	" FROM outbox"
	" WHERE request_id = $1 OR event_id = $2::uuid OR aggregate_id = $2::uuid"
	"  OR aggregate_id = $3::uuid"
	" ORDER BY id DESC LIMIT 200";

/* $1, $2, $3 as above, $4 the event ids the outbox had (of
 * MagentaAuthentication). */
static const char sql_processed[] =
	"SELECT event_id::text, event_type, user_id::text, version, request_id,"
	" outcome, " TS("processed_at") ", redeliveries"
	" FROM processed_events"
	" WHERE request_id = $1 OR event_id = $2::uuid OR user_id = $2::uuid"
	"  OR user_id = $3::uuid OR event_id = ANY($4::uuid[])"
	" ORDER BY processed_at DESC LIMIT 200";

static const char sql_parked[] =
	"SELECT event_id::text, event_type, user_id::text, version, request_id,"
	" " TS("parked_at") ", blocked_by::text"
	" FROM parked_events"
	" WHERE request_id = $1 OR event_id = $2::uuid OR user_id = $2::uuid"
	"  OR user_id = $3::uuid OR event_id = ANY($4::uuid[])"
	" ORDER BY parked_at DESC LIMIT 200";

/* A poison message may carry no usable id: matched by its message_id (the
 * event id it claimed: the key, or one of $2, the outbox's) or by the
 * request id it carried ($1). */
static const char sql_rejected[] =
	"SELECT message_id, request_id, reason, coalesce(detail, ''), " TS("rejected_at") ","
	" rejections"
	" FROM rejected_messages"
	" WHERE request_id = $1 OR message_id = $1 OR message_id = ANY($2::text[])"
	" ORDER BY rejected_at DESC LIMIT 200";
/* clang-format on */

/* One event's path, as far as it was found. */
struct hop {
	char event_id[UUID_STRLEN + 1];
	struct json_object *o; /* the event's JSON object (owned by the list) */
};

struct trace {
	struct hop hops[TRACE_MAX];
	size_t n;
	int failed; /* a database could not be read */
};

/* A column as a JSON string, or null. */
static struct json_object *col_str(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : json_object_new_string(PQgetvalue(res, row, c));
}

/* The event object of id, made (with its identity) when new; NULL when the
 * list is full. */
static struct json_object *hop_get(struct trace *t, const char *id, const PGresult *res, int row,
				   int with_identity)
{
	struct json_object *o;

	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->hops[i].event_id, id) == 0)
			return t->hops[i].o;
	if (t->n == TRACE_MAX || strlen(id) > UUID_STRLEN)
		return NULL;
	o = json_object_new_object();
	snprintf(t->hops[t->n].event_id, sizeof(t->hops[t->n].event_id), "%s", id);
	t->hops[t->n++].o = o;
	json_object_object_add(o, "eventId", json_object_new_string(id));
	if (with_identity) {
		json_object_object_add(o, "type", col_str(res, row, 1));
		json_object_object_add(o, "userId", col_str(res, row, 2));
		json_object_object_add(o, "version",
				       json_object_new_int64(atoll(PQgetvalue(res, row, 3))));
	} else {
		json_object_object_add(o, "type", NULL);
		json_object_object_add(o, "userId", NULL);
		json_object_object_add(o, "version", NULL);
	}
	json_object_object_add(o, "requestId", col_str(res, row, with_identity ? 4 : 1));
	json_object_object_add(o, "outbox", NULL);
	json_object_object_add(o, "processed", NULL);
	json_object_object_add(o, "parked", NULL);
	json_object_object_add(o, "rejected", NULL);
	return o;
}

/* Run sql on db; NULL (told on stderr, t->failed set) when it failed. */
static PGresult *query(struct trace *t, struct db *db, const char *sql, int n, const char *const *p)
{
	PGresult *res = db_exec(db, sql, n, p, 0);
	char msg[300];

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	snprintf(msg, sizeof(msg), "%s",
		 db_unavailable(db, res) ? "unreachable" : PQresultErrorMessage(res));
	msg[strcspn(msg, "\n")] = '\0';
	fprintf(stderr, "magentactl: trace: database '%s': %s\n", db->dbname, msg);
	PQclear(res);
	t->failed = 1;
	return NULL;
}

/* The user named by name (a username or an email) into user; "" when none. */
static void trace_name(struct trace *t, struct db *db, const char *name, char user[UUID_STRLEN + 1])
{
	struct account a;
	PGresult *failed = NULL;
	int r;

	user[0] = '\0';
	if (!(strchr(name, '@') ? valid_email(name, strlen(name))
				: valid_username(name, strlen(name))))
		return;
	r = account_find(db, name, &a, &failed);
	if (r == 1)
		snprintf(user, UUID_STRLEN + 1, "%s", a.id);
	else if (r < 0)
		t->failed = 1;
	PQclear(failed);
}

/* The outbox rows; their event ids into ids (a Postgres array literal). */
static void trace_outbox(struct trace *t, struct db *db, const char *const p[3], char *ids,
			 size_t cap)
{
	PGresult *res = query(t, db, sql_outbox, 3, p);
	size_t len = 1;

	snprintf(ids, cap, "{");
	for (int i = 0; res && i < PQntuples(res); i++) {
		struct json_object *o = hop_get(t, PQgetvalue(res, i, 0), res, i, 1), *ob;

		if (!o)
			break;
		ob = json_object_new_object();
		json_object_object_add(ob, "createdAt", col_str(res, i, 5));
		json_object_object_add(ob, "publishedAt", col_str(res, i, 6));
		json_object_object_add(ob, "attempts",
				       json_object_new_int64(atoll(PQgetvalue(res, i, 7))));
		json_object_object_add(ob, "lastError", col_str(res, i, 8));
		json_object_object_add(o, "outbox", ob);
		if (len + UUID_STRLEN + 2 < cap)
			len += (size_t)snprintf(ids + len, cap - len, "%s%s", len > 1 ? "," : "",
						PQgetvalue(res, i, 0));
	}
	snprintf(ids + len, cap - len, "}");
	PQclear(res);
}

/* What the consumer did: processed_events, parked_events, rejected_messages. */
static void trace_auth(struct trace *t, struct db *db, const char *const p[4])
{
	PGresult *res;

	if ((res = query(t, db, sql_processed, 4, p))) {
		for (int i = 0; i < PQntuples(res); i++) {
			struct json_object *o = hop_get(t, PQgetvalue(res, i, 0), res, i, 1), *pe;

			if (!o)
				break;
			pe = json_object_new_object();
			json_object_object_add(pe, "outcome", col_str(res, i, 5));
			json_object_object_add(pe, "processedAt", col_str(res, i, 6));
			json_object_object_add(pe, "redeliveries",
					       json_object_new_int64(atoll(PQgetvalue(res, i, 7))));
			json_object_object_add(pe, "requestId", col_str(res, i, 4));
			json_object_object_add(o, "processed", pe);
		}
		PQclear(res);
	}
	if ((res = query(t, db, sql_parked, 4, p))) {
		for (int i = 0; i < PQntuples(res); i++) {
			struct json_object *o = hop_get(t, PQgetvalue(res, i, 0), res, i, 1), *pk;

			if (!o)
				break;
			pk = json_object_new_object();
			json_object_object_add(pk, "parkedAt", col_str(res, i, 5));
			json_object_object_add(pk, "blockedBy", col_str(res, i, 6));
			json_object_object_add(o, "parked", pk);
		}
		PQclear(res);
	}
	{
		/* rejected_messages compares text: the key ($1) and the event ids ($2) */
		const char *rp[] = {p[0], p[3]};

		if ((res = query(t, db, sql_rejected, 2, rp))) {
			for (int i = 0; i < PQntuples(res); i++) {
				const char *id =
				    PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0);
				struct json_object *o, *rj;

				if (!uuid_valid(id) || !(o = hop_get(t, id, res, i, 0)))
					continue; /* no event id to hang it on */
				rj = json_object_new_object();
				json_object_object_add(rj, "reason", col_str(res, i, 2));
				json_object_object_add(rj, "detail", col_str(res, i, 3));
				json_object_object_add(rj, "rejectedAt", col_str(res, i, 4));
				json_object_object_add(
				    rj, "rejections",
				    json_object_new_int64(atoll(PQgetvalue(res, i, 5))));
				json_object_object_add(o, "rejected", rj);
			}
			PQclear(res);
		}
	}
}

/* Where the event stands, in one word. */
static const char *hop_state(struct json_object *o)
{
	struct json_object *v;

	if ((v = json_object_object_get(o, "processed")))
		return json_object_get_string(json_object_object_get(v, "outcome"));
	if (json_object_object_get(o, "parked"))
		return "parked";
	if (json_object_object_get(o, "rejected"))
		return "dead_lettered";
	if ((v = json_object_object_get(o, "outbox")))
		return json_object_object_get(v, "publishedAt") ? "published" : "unpublished";
	return "unknown";
}

/* The field k of object o (a member of the event), or "-". */
static const char *f(struct json_object *o, const char *k)
{
	struct json_object *v = o ? json_object_object_get(o, k) : NULL;

	return v ? json_object_get_string(v) : "-";
}

/* One event, for a person. */
static void hop_print(struct json_object *o)
{
	struct json_object *ob = json_object_object_get(o, "outbox");
	struct json_object *pe = json_object_object_get(o, "processed");
	struct json_object *pk = json_object_object_get(o, "parked");
	struct json_object *rj = json_object_object_get(o, "rejected");

	printf("event %s %s user %s version %s req %s: %s\n", f(o, "eventId"), f(o, "type"),
	       f(o, "userId"), f(o, "version"), f(o, "requestId"), f(o, "state"));
	if (ob) {
		printf("  outbox     created %s, published %s, attempts %s", f(ob, "createdAt"),
		       f(ob, "publishedAt"), f(ob, "attempts"));
		if (json_object_object_get(ob, "lastError"))
			printf(", last error: %s", f(ob, "lastError"));
		printf("\n");
	} else {
		printf("  outbox     - (pruned, or written elsewhere)\n");
	}
	if (pe)
		printf("  consumer   %s at %s, %s redeliveries\n", f(pe, "outcome"),
		       f(pe, "processedAt"), f(pe, "redeliveries"));
	else
		printf("  consumer   -\n");
	if (pk)
		printf("  parked     since %s, waits for user %s\n", f(pk, "parkedAt"),
		       f(pk, "blockedBy"));
	if (rj)
		printf("  dlq        %s (%s) at %s, %s rejections\n", f(rj, "reason"),
		       f(rj, "detail"), f(rj, "rejectedAt"), f(rj, "rejections"));
}

/* Oldest first: by outbox creation, else by the consumer's time. */
static int hop_cmp(const void *a, const void *b)
{
	struct json_object *x = ((const struct hop *)a)->o, *y = ((const struct hop *)b)->o;
	const char *tx = f(json_object_object_get(x, "outbox"), "createdAt");
	const char *ty = f(json_object_object_get(y, "outbox"), "createdAt");

	if (strcmp(tx, "-") == 0)
		tx = f(json_object_object_get(x, "processed"), "processedAt");
	if (strcmp(ty, "-") == 0)
		ty = f(json_object_object_get(y, "processed"), "processedAt");
	return strcmp(tx, ty) != 0
		   ? strcmp(tx, ty)
		   : strcmp(((const struct hop *)a)->event_id, ((const struct hop *)b)->event_id);
}

/* trace [--json] KEY */
int cmd_trace(int argc, char **argv)
{
	struct trace *t;
	struct db users, auth;
	const char *key = NULL, *uuid;
	char user[UUID_STRLEN + 1], ids[TRACE_MAX * (UUID_STRLEN + 1) + 3];
	struct json_object *out, *events;
	int as_json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else if (argv[i][0] == '-' || key) {
			fprintf(stderr, "magentactl: trace: unknown argument '%s'\n", argv[i]);
			return 3;
		} else {
			key = argv[i];
		}
	}
	if (!key) {
		fprintf(stderr, "magentactl: trace: needs a user id, username, email, event id or "
				"request id\n");
		return 3;
	}
	/* a request id's characters (1-64 of [A-Za-z0-9._-]) or an email */
	if (!log_request_id_ok(key) && !(strchr(key, '@') && valid_email(key, strlen(key)))) {
		fprintf(stderr, "magentactl: trace: the key given is not a user id, username, "
				"email, event id or request id\n");
		return 3;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		fprintf(stderr, "magentactl: trace: out of memory\n");
		return 2;
	}
	uuid = uuid_valid(key) ? key : NULL;
	db_init(&users, conf_str(CONF_USERS_DB), "magentactl");
	db_init(&auth, conf_str(CONF_AUTH_DB), "magentactl");
	trace_name(t, &users, key, user);
	{
		const char *p[] = {key, uuid, user[0] ? user : NULL};

		trace_outbox(t, &users, p, ids, sizeof(ids));
	}
	{
		const char *p[] = {key, uuid, user[0] ? user : NULL, ids};

		trace_auth(t, &auth, p);
	}
	db_close(&users);
	db_close(&auth);

	qsort(t->hops, t->n, sizeof(t->hops[0]), hop_cmp);
	out = json_object_new_object();
	events = json_object_new_array();
	json_object_object_add(out, "key", json_object_new_string(key));
	if (user[0])
		json_object_object_add(out, "user", json_object_new_string(user));
	for (size_t i = 0; i < t->n; i++) {
		struct json_object *o = t->hops[i].o;
		const char *req = f(o, "requestId");

		json_object_object_add(o, "state", json_object_new_string(hop_state(o)));
		if (strcmp(req, "-") == 0) {
			/* the outbox row was pruned: the consumer's copy */
			struct json_object *pe = json_object_object_get(o, "processed");
			if (pe && json_object_object_get(pe, "requestId"))
				json_object_object_add(
				    o, "requestId",
				    json_object_get(json_object_object_get(pe, "requestId")));
		}
		if (json_object_object_get(o, "processed"))
			json_object_object_del(json_object_object_get(o, "processed"), "requestId");
		json_object_array_add(events, o);
	}
	json_object_object_add(out, "events", events);
	if (as_json) {
		printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	} else {
		printf("trace %s: %zu event%s%s%s\n", key, t->n, t->n == 1 ? "" : "s",
		       user[0] ? ", user " : "", user);
		for (size_t i = 0; i < t->n; i++)
			hop_print(t->hops[i].o);
	}
	rc = t->failed ? 2 : t->n > 0 ? 0 : 1;
	if (rc == 1 && !as_json)
		fprintf(stderr, "magentactl: trace: nothing found for '%s'\n", key);
	json_object_put(out);
	free(t);
	return rc;
}
