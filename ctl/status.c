/* status: the event pipeline at a glance, and a monitoring check: exit 0
 * healthy, 1 degraded, 2 down (docs/operations.md, "magentactl status"). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "conf.h"
#include "db.h"
#include "magentactl.h"
#include "mq.h"
#include "scrape.h"
#include "topology.h"

static const char sql_outbox[] =
	"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::numeric(12,3),"
	" count(*) FILTER (WHERE attempts > 0)"
	" FROM outbox WHERE published_at IS NULL";

/* The mail queue (sql/users/004_mail.sql): unsent mail (not abandoned by
 * the mailer, which drops a dead token's text), how many of it the SMTP
 * server refused at least once (last_error: attempts also counts a
 * delivery in flight), and the oldest one's age. */
static const char sql_mail[] =
	"SELECT count(*), count(*) FILTER (WHERE last_error IS NOT NULL),"
	" coalesce(extract(epoch FROM now() - min(created_at)), 0)::numeric(12,3)"
	" FROM mail_outbox WHERE sent_at IS NULL AND params ? 'token'";

static const char sql_last[] =
	"SELECT event_id, event_type, to_char(processed_at AT TIME ZONE 'UTC',"
	" 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	" extract(epoch FROM now() - processed_at)::numeric(12,3),"
	" coalesce(extract(epoch FROM processed_at - occurred_at), 0)::numeric(12,3)"
	" FROM processed_events WHERE outcome = 'applied' ORDER BY processed_at DESC LIMIT 1";

static const char sql_parked[] = "SELECT count(*) FROM parked_events";

/* The users parked events wait for, with how many wait for each, as two
 * arrays (of MagentaAuthentication). */
static const char sql_blockers[] =
	"SELECT coalesce(array_agg(blocked_by), '{}'), coalesce(array_agg(n), '{}')"
	" FROM (SELECT blocked_by, count(*) AS n FROM parked_events GROUP BY blocked_by) b";

/* $1 user ids, $2 counts: those MagentaUsers does not have, and the sum of
 * their counts (of MagentaUsers). */
static const char sql_unknown[] =
	"SELECT count(*), coalesce(sum(t.n), 0) FROM unnest($1::uuid[], $2::bigint[]) AS t(id, n)"
	" WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.id)";

/* Note a component that could not be reached. */
static void add_error(struct json_object *errors, const char *what, const char *msg)
{
	char line[400];

	snprintf(line, sizeof(line), "%s: %s", what, msg);
	json_object_array_add(errors, json_object_new_string(line));
}

/* The first line of a libpq message, without its newline. */
static const char *first_line(const char *msg, char *buf, size_t n)
{
	snprintf(buf, n, "%s", msg && *msg ? msg : "unreachable");
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* Outbox backlog: rows not yet published. */
static struct json_object *status_outbox(struct json_object *errors)
{
	struct db db;
	PGresult *res;
	struct json_object *o = NULL;
	char buf[300];

	db_init(&db, conf_str(CONF_USERS_DB), "magentactl");
	res = db_exec(&db, sql_outbox, 0, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		o = json_object_new_object();
		json_object_object_add(o, "backlog",
				       json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
		json_object_object_add(o, "oldestAgeSeconds",
				       json_object_new_double(atof(PQgetvalue(res, 0, 1))));
		json_object_object_add(o, "failing",
				       json_object_new_int64(atoll(PQgetvalue(res, 0, 2))));
		PQclear(res);
		/* absent before the mail migration: then no mail member */
		res = db_exec(&db, sql_mail, 0, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			struct json_object *m = json_object_new_object();
			json_object_object_add(m, "queued",
					       json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
			json_object_object_add(m, "failing",
					       json_object_new_int64(atoll(PQgetvalue(res, 0, 1))));
			json_object_object_add(m, "oldestAgeSeconds",
					       json_object_new_double(atof(PQgetvalue(res, 0, 2))));
			json_object_object_add(o, "mail", m);
		}
	} else {
		add_error(errors, conf_str(CONF_USERS_DB),
			  first_line(db.conn ? PQerrorMessage(db.conn) : PQresultErrorMessage(res),
				     buf, sizeof(buf)));
	}
	PQclear(res);
	db_close(&db);
	return o;
}

/* The consumer's side: the last event applied, parked events. */
static struct json_object *status_consumer(struct json_object *errors)
{
	struct db db;
	PGresult *res;
	struct json_object *o = NULL;
	char buf[300];

	db_init(&db, conf_str(CONF_AUTH_DB), "magentactl");
	res = db_exec(&db, sql_last, 0, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	o = json_object_new_object();
	if (PQntuples(res) == 1) {
		json_object_object_add(o, "lastEventId",
				       json_object_new_string(PQgetvalue(res, 0, 0)));
		json_object_object_add(o, "lastEventType",
				       json_object_new_string(PQgetvalue(res, 0, 1)));
		json_object_object_add(o, "lastAppliedAt",
				       json_object_new_string(PQgetvalue(res, 0, 2)));
		json_object_object_add(o, "lastAppliedAgeSeconds",
				       json_object_new_double(atof(PQgetvalue(res, 0, 3))));
		json_object_object_add(o, "lastLagSeconds",
				       json_object_new_double(atof(PQgetvalue(res, 0, 4))));
	} else {
		json_object_object_add(o, "lastEventId", NULL);
	}
	PQclear(res);
	res = db_exec(&db, sql_parked, 0, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		json_object_put(o);
		o = NULL;
		goto fail;
	}
	json_object_object_add(o, "parked", json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
	PQclear(res);
	db_close(&db);
	return o;
fail:
	add_error(errors, conf_str(CONF_AUTH_DB),
		  first_line(db.conn ? PQerrorMessage(db.conn) : PQresultErrorMessage(res), buf,
			     sizeof(buf)));
	PQclear(res);
	db_close(&db);
	return o;
}

/* Ghosts: parked events that wait for a user MagentaUsers does not have
 * (a user here whose registration a crash erased there), whose freeing
 * event will never come: counted into the consumer's object c as
 * parkedBehindUnknown and unknownBlockers (magentactl resync
 * --prune-unknown removes them).  Nothing added when a database does not
 * answer (status_outbox or status_consumer said so). */
static void status_ghosts(struct json_object *c)
{
	struct db auth_db, users_db;
	PGresult *b, *res = NULL;

	db_init(&auth_db, conf_str(CONF_AUTH_DB), "magentactl");
	db_init(&users_db, conf_str(CONF_USERS_DB), "magentactl");
	b = db_exec(&auth_db, sql_blockers, 0, NULL, 0);
	if (PQresultStatus(b) != PGRES_TUPLES_OK || PQntuples(b) != 1)
		goto out;
	{
		const char *p[] = { PQgetvalue(b, 0, 0), PQgetvalue(b, 0, 1) };
		res = db_exec(&users_db, sql_unknown, 2, p, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto out;
	json_object_object_add(c, "parkedBehindUnknown",
			       json_object_new_int64(atoll(PQgetvalue(res, 0, 1))));
	json_object_object_add(c, "unknownBlockers",
			       json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
out:
	PQclear(res);
	PQclear(b);
	db_close(&users_db);
	db_close(&auth_db);
}

/* Message and consumer counts of one queue; NULL on failure. */
static struct json_object *status_queue(struct mq *mq, const char *name, struct json_object *errors)
{
	uint32_t messages = 0, consumers = 0;
	struct json_object *o;
	int rc = mq_queue_stat(mq, name, &messages, &consumers);

	if (rc < 0) {
		add_error(errors, "rabbitmq", mq->err);
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "exists", json_object_new_boolean(rc == 0));
	json_object_object_add(o, "messages", json_object_new_int64(messages));
	json_object_object_add(o, "consumers", json_object_new_int64(consumers));
	return o;
}

/* How long a daemon's metrics may take to answer, ms. */
#define SCRAPE_TIMEOUT_MS 2000

/* A daemon's liveness from its metrics endpoint spec ("" : not configured,
 * "unknown"): up, the age of its loop's last turn, its connections. */
static struct json_object *status_daemon(const char *spec)
{
	struct json_object *o = json_object_new_object(), *m, *v;
	char err[300];

	json_object_object_add(o, "metricsListen", json_object_new_string(spec));
	if (!*spec) {
		json_object_object_add(o, "state", json_object_new_string("unknown"));
		return o;
	}
	m = scrape_metrics(spec, SCRAPE_TIMEOUT_MS, err, sizeof(err));
	if (!m) {
		json_object_object_add(o, "state", json_object_new_string("down"));
		json_object_object_add(o, "error", json_object_new_string(err));
		return o;
	}
	json_object_object_add(o, "state", json_object_new_string("up"));
	if (json_object_object_get_ex(m, "magenta_loop_last_timestamp_seconds", &v)) {
		struct timespec ts;
		double age;

		clock_gettime(CLOCK_REALTIME, &ts);
		age = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - json_object_get_double(v);
		json_object_object_add(o, "loopAgeSeconds",
				       json_object_new_double(age > 0 ? age : 0));
	}
	if (json_object_object_get_ex(m, "magenta_broker_connected", &v))
		json_object_object_add(o, "brokerConnected",
				       json_object_new_boolean(json_object_get_double(v) > 0));
	if (json_object_object_get_ex(m, "magenta_database_connected", &v))
		json_object_object_add(o, "databaseConnected",
				       json_object_new_boolean(json_object_get_double(v) > 0));
	if (json_object_object_get_ex(m, "magenta_consumer_messages_held", &v))
		json_object_object_add(o, "unacked",
				       json_object_new_int64((int64_t)json_object_get_double(v)));
	json_object_put(m);
	return o;
}

/* A number member of o, or -1 when absent. */
static double num(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return -1;
	return json_object_get_double(v);
}

/* A boolean member of o: 1, 0, or -1 when absent. */
static int flag(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return -1;
	return json_object_get_boolean(v);
}

/* Note a problem: down (2) or degraded (1), *level the worst so far. */
static void problem(struct json_object *problems, int *level, int this, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct json_object *problems, int *level, int this, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_object_array_add(problems, json_object_new_string(line));
	if (this > *level)
		*level = this;
}

/* A daemon's problems: not answering, stuck, cut off. */
static void judge_daemon(struct json_object *problems, int *level, const char *who,
			 struct json_object *d)
{
	const char *state = json_object_get_string(json_object_object_get(d, "state"));
	double age = num(d, "loopAgeSeconds");

	if (strcmp(state, "down") == 0) {
		problem(problems, level, 1, "%s: its metrics do not answer (%s)", who,
			json_object_get_string(json_object_object_get(d, "error")));
		return;
	}
	if (strcmp(state, "up") != 0)
		return; /* not configured: unknown, not a problem */
	if (age > conf_int(CONF_STATUS_LOOP_STALE))
		problem(problems, level, 1, "%s: its loop last turned %.0f s ago (stuck?)", who,
			age);
	if (flag(d, "brokerConnected") == 0)
		problem(problems, level, 1, "%s: not connected to RabbitMQ", who);
	if (flag(d, "databaseConnected") == 0)
		problem(problems, level, 1, "%s: not connected to PostgreSQL", who);
}

/* The verdict: problems listed, 0 healthy, 1 degraded, 2 down. */
static int status_judge(struct json_object *all, struct json_object *problems)
{
	struct json_object *ob, *q, *d, *c, *dm;
	int level = 0;

	json_object_object_get_ex(all, "outbox", &ob);
	json_object_object_get_ex(all, "queue", &q);
	json_object_object_get_ex(all, "dlq", &d);
	json_object_object_get_ex(all, "consumer", &c);
	if (!ob)
		problem(problems, &level, 2, "database %s unreachable", conf_str(CONF_USERS_DB));
	if (!c)
		problem(problems, &level, 2, "database %s unreachable", conf_str(CONF_AUTH_DB));
	if (!q)
		problem(problems, &level, 2, "RabbitMQ unreachable");
	if (ob && num(ob, "oldestAgeSeconds") > conf_int(CONF_STATUS_BACKLOG_AGE_WARN))
		problem(problems, &level, 1,
			"outbox: the oldest unpublished row is %.0f s old (status_backlog_age_warn "
			"%ld)",
			num(ob, "oldestAgeSeconds"), conf_int(CONF_STATUS_BACKLOG_AGE_WARN));
	if (q && flag(q, "exists") == 0)
		problem(problems, &level, 1, "queue: does not exist");
	else if (q && num(q, "consumers") == 0)
		problem(problems, &level, 1, "queue: no consumer");
	if (q && num(q, "messages") > conf_int(CONF_STATUS_QUEUE_WARN))
		problem(problems, &level, 1, "queue: %.0f messages ready (status_queue_warn %ld)",
			num(q, "messages"), conf_int(CONF_STATUS_QUEUE_WARN));
	if (d && num(d, "messages") > conf_int(CONF_STATUS_DLQ_WARN))
		problem(problems, &level, 1, "dlq: %.0f dead letters (status_dlq_warn %ld)",
			num(d, "messages"), conf_int(CONF_STATUS_DLQ_WARN));
	if (json_object_object_get_ex(all, "daemons", &dm)) {
		judge_daemon(problems, &level, "relay", json_object_object_get(dm, "relay"));
		judge_daemon(problems, &level, "consumer", json_object_object_get(dm, "consumer"));
	}
	return level;
}

/* A member as text, "-" when absent. */
static const char *txt(struct json_object *o, const char *key, char *buf, size_t n)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	if (json_object_is_type(v, json_type_double))
		snprintf(buf, n, "%.1f", json_object_get_double(v));
	else
		snprintf(buf, n, "%s", json_object_get_string(v));
	return buf;
}

/* One daemon's line: "relay      up, loop 0.3 s ago, broker connected, ...". */
static void print_daemon(const char *label, const char *key, struct json_object *d)
{
	const char *state = json_object_get_string(json_object_object_get(d, "state"));
	int b = flag(d, "brokerConnected"), p = flag(d, "databaseConnected");

	printf("%-10s %s", label, state);
	if (strcmp(state, "unknown") == 0)
		printf(" (%s not set)", key);
	else if (strcmp(state, "down") == 0)
		printf(" (%s)", json_object_get_string(json_object_object_get(d, "error")));
	else
		printf(", loop %.1f s ago, RabbitMQ %s, PostgreSQL %s", num(d, "loopAgeSeconds"),
		       b > 0 ? "connected" : b == 0 ? "DISCONNECTED" : "?",
		       p > 0 ? "connected" : p == 0 ? "DISCONNECTED" : "?");
	printf("\n");
}

/* Print the human form. */
static void status_print(struct json_object *all)
{
	struct json_object *ob, *q, *d, *c, *errors, *dm, *problems, *cd, *mq;
	char a[128], b[128], e[128], f[128], g[128], h[128];
	const char *ghosts, *health;

	json_object_object_get_ex(all, "outbox", &ob);
	json_object_object_get_ex(all, "queue", &q);
	json_object_object_get_ex(all, "dlq", &d);
	json_object_object_get_ex(all, "consumer", &c);
	json_object_object_get_ex(all, "errors", &errors);
	json_object_object_get_ex(all, "daemons", &dm);
	json_object_object_get_ex(all, "problems", &problems);
	cd = json_object_object_get(dm, "consumer");
	health = json_object_get_string(json_object_object_get(all, "health"));
	printf("health     %s\n", health);
	for (size_t i = 0; problems && i < json_object_array_length(problems); i++)
		printf("  - %s\n", json_object_get_string(json_object_array_get_idx(problems, i)));
	printf("databases  %s %s, %s %s\n", conf_str(CONF_USERS_DB), ob ? "reachable" : "UNREACHABLE",
	       conf_str(CONF_AUTH_DB), c ? "reachable" : "UNREACHABLE");
	if (ob)
		printf("outbox     %s unpublished, oldest %s s, %s failing (returned or nacked)\n",
		       txt(ob, "backlog", a, sizeof(a)), txt(ob, "oldestAgeSeconds", b, sizeof(b)),
		       txt(ob, "failing", e, sizeof(e)));
	else
		printf("outbox     unknown\n");
	if (ob && json_object_object_get_ex(ob, "mail", &mq))
		printf("mail       %s unsent, oldest %s s, %s refused by SMTP at least once\n",
		       txt(mq, "queued", a, sizeof(a)), txt(mq, "oldestAgeSeconds", b, sizeof(b)),
		       txt(mq, "failing", e, sizeof(e)));
	if (q)
		printf("queue      %s: %s ready, %s unacked, %s consumers%s\n",
		       txt(q, "name", a, sizeof(a)), txt(q, "messages", b, sizeof(b)),
		       num(cd, "unacked") >= 0 ? txt(cd, "unacked", f, sizeof(f)) : "unknown",
		       txt(q, "consumers", e, sizeof(e)),
		       json_object_get_boolean(json_object_object_get(q, "exists"))
			       ? ""
			       : " (does not exist)");
	else
		printf("queue      unknown\n");
	if (d)
		printf("dlq        %s: %s dead letters%s\n", txt(d, "name", a, sizeof(a)),
		       txt(d, "messages", b, sizeof(b)),
		       json_object_get_boolean(json_object_object_get(d, "exists"))
			       ? ""
			       : " (does not exist)");
	else
		printf("dlq        unknown\n");
	if (c)
		printf("consumer   last applied %s %s at %s (%s s ago, lag %s s); %s parked\n",
		       txt(c, "lastEventType", a, sizeof(a)), txt(c, "lastEventId", b, sizeof(b)),
		       txt(c, "lastAppliedAt", e, sizeof(e)),
		       txt(c, "lastAppliedAgeSeconds", f, sizeof(f)),
		       txt(c, "lastLagSeconds", h, sizeof(h)), txt(c, "parked", g, sizeof(g)));
	else
		printf("consumer   unknown\n");
	print_daemon("relay", "relay_metrics_listen", json_object_object_get(dm, "relay"));
	print_daemon("consumerd", "consumer_metrics_listen", cd);
	ghosts = c ? txt(c, "unknownBlockers", a, sizeof(a)) : "-";
	if (strcmp(ghosts, "-") != 0 && strcmp(ghosts, "0") != 0)
		printf("ghosts     %s parked events wait for %s users that MagentaUsers does not "
		       "have: magentactl resync --prune-unknown --dry-run lists them\n",
		       txt(c, "parkedBehindUnknown", b, sizeof(b)), ghosts);
	for (size_t i = 0; errors && i < json_object_array_length(errors); i++)
		printf("error      %s\n",
		       json_object_get_string(json_object_array_get_idx(errors, i)));
}

/* status [--json] */
int cmd_status(int argc, char **argv)
{
	static const char *const healths[] = { "healthy", "degraded", "down" };
	struct json_object *all = json_object_new_object(), *errors = json_object_new_array();
	struct json_object *daemons, *problems;
	struct mq mq;
	char dlq[300];
	int as_json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else {
			fprintf(stderr, "magentactl: status: unknown argument '%s'\n", argv[i]);
			json_object_put(all);
			json_object_put(errors);
			return 3; /* 2 means down */
		}
	}
	mq_init(&mq, "magentactl");
	mq.quiet = 1;
	topology_dlq_name(dlq, sizeof(dlq));
	json_object_object_add(all, "outbox", status_outbox(errors));
	json_object_object_add(all, "queue", status_queue(&mq, conf_str(CONF_QUEUE), errors));
	json_object_object_add(all, "dlq",
			       mq_connected(&mq) ? status_queue(&mq, dlq, errors) : NULL);
	{
		struct json_object *c = status_consumer(errors);

		if (c)
			status_ghosts(c);
		json_object_object_add(all, "consumer", c);
	}
	mq_close(&mq, 1);
	daemons = json_object_new_object();
	json_object_object_add(daemons, "relay",
			       status_daemon(conf_str(CONF_RELAY_METRICS_LISTEN)));
	json_object_object_add(daemons, "consumer",
			       status_daemon(conf_str(CONF_CONSUMER_METRICS_LISTEN)));
	json_object_object_add(all, "daemons", daemons);
	{
		struct json_object *dbs = json_object_new_object();

		json_object_object_add(dbs, conf_str(CONF_USERS_DB),
				       json_object_new_boolean(json_object_object_get(all, "outbox") != NULL));
		json_object_object_add(dbs, conf_str(CONF_AUTH_DB),
				       json_object_new_boolean(json_object_object_get(all, "consumer") != NULL));
		json_object_object_add(all, "databases", dbs);
	}
	json_object_object_add(all, "errors", errors);
	problems = json_object_new_array();
	rc = status_judge(all, problems);
	if (rc == 0 && json_object_array_length(errors) > 0)
		rc = 2; /* a part did not answer */
	json_object_object_add(all, "health", json_object_new_string(healths[rc]));
	json_object_object_add(all, "problems", problems);
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN));
	else
		status_print(all);
	json_object_put(all);
	return rc;
}
