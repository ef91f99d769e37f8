/* dlq: show and replay the dead letters of the consumer's queue.
 *
 * Messages are read with basic.get and left unacknowledged: closing the
 * connection puts every one not replayed back into the dead-letter queue.
 * A replayed message is published to the events exchange (confirmed,
 * mandatory) and only then acknowledged in the dead-letter queue. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "conf.h"
#include "db.h"
#include "magentactl.h"
#include "eventseal.h"
#include "mq.h"
#include "topology.h"

#define LIST_LIMIT_DEFAULT 1000

/* One dead letter with what we know about it. */
struct dead {
	struct mq_msg m;
	char id[140];
	char type[64];
	char sha[65];
	char reason[256];
	char dead_at[32];
	const char *hash; /* data.passwordHash: "sealed", "PLAIN" or "-" (none) */
};

/* A string member of a JSON body, or NULL. */
static const char *body_str(struct json_object *root, const char *key)
{
	struct json_object *v;

	if (root && json_object_object_get_ex(root, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* Fill id, type, sha and the broker's reason of d from its message. */
static void dead_describe(struct dead *d)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	struct json_object *root = json_tokener_parse(d->m.body), *data;
	const char *s;

	crypto_hash_sha256(h, (const unsigned char *)d->m.body, d->m.len);
	sodium_bin2hex(d->sha, sizeof(d->sha), h, sizeof(h));
	if (d->m.message_id[0])
		snprintf(d->id, sizeof(d->id), "%s", d->m.message_id);
	else if ((s = body_str(root, "eventId")))
		snprintf(d->id, sizeof(d->id), "%.64s", s);
	else
		snprintf(d->id, sizeof(d->id), "sha256:%.16s", d->sha);
	if (d->m.type[0])
		snprintf(d->type, sizeof(d->type), "%s", d->m.type);
	else if ((s = body_str(root, "eventType")))
		snprintf(d->type, sizeof(d->type), "%.60s", s);
	else
		snprintf(d->type, sizeof(d->type), "-");
	snprintf(d->reason, sizeof(d->reason), "%s",
		 d->m.death_reason[0] ? d->m.death_reason : "-");
	d->hash = "-";
	if (root && json_object_object_get_ex(root, "data", &data) &&
	    (s = body_str(data, "passwordHash")))
		d->hash = eventseal_is_sealed(s) ? "sealed" : "PLAIN";
	if (d->m.death_time) {
		time_t t = (time_t)d->m.death_time;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(d->dead_at, sizeof(d->dead_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else {
		snprintf(d->dead_at, sizeof(d->dead_at), "-");
	}
	json_object_put(root);
}

/* Replace the broker's generic reason ("rejected") by the consumer's
 * own (rejected_messages), when the auth database answers. */
static void dead_reasons(struct dead *all, size_t n)
{
	struct db db;
	PGresult *res;
	char *arr;
	size_t o = 0;

	if (n == 0)
		return;
	arr = malloc(n * 66 + 3);
	if (!arr)
		return;
	arr[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			arr[o++] = ',';
		memcpy(arr + o, all[i].sha, 64);
		o += 64;
	}
	arr[o++] = '}';
	arr[o] = '\0';
	db_init(&db, conf_str(CONF_AUTH_DB), "magentactl");
	{
		const char *p[] = { arr };
		res = db_exec(
		    &db,
		    "SELECT body_sha256, reason, coalesce(detail, '') FROM rejected_messages"
		    " WHERE body_sha256 = ANY($1::text[])",
		    1, p, 0);
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		for (int r = 0; r < PQntuples(res); r++)
			for (size_t i = 0; i < n; i++)
				if (strcmp(all[i].sha, PQgetvalue(res, r, 0)) == 0)
					snprintf(all[i].reason, sizeof(all[i].reason), "%s%s%s",
						 PQgetvalue(res, r, 1),
						 *PQgetvalue(res, r, 2) ? ": " : "",
						 PQgetvalue(res, r, 2));
	} else {
		fprintf(stderr, "magentactl: dlq: reasons unavailable (database %s unreachable)\n",
			conf_str(CONF_AUTH_DB));
	}
	PQclear(res);
	db_close(&db);
	free(arr);
}

/* dlq list [--json] [--limit N] */
static int dlq_list(struct mq *mq, const char *queue, int as_json, long limit)
{
	struct dead *all = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, got;

	while ((long)n < limit) {
		if (n == cap) {
			struct dead *p;
			cap = cap ? cap * 2 : 64;
			p = realloc(all, cap * sizeof(*p));
			if (!p) {
				rc = 1;
				break;
			}
			all = p;
		}
		memset(&all[n], 0, sizeof(all[n]));
		got = mq_get(mq, queue, &all[n].m);
		if (got < 0) {
			fprintf(stderr, "magentactl: dlq: rabbitmq: %s\n", mq->err);
			rc = 1;
			break;
		}
		if (got == 0)
			break;
		dead_describe(&all[n]);
		n++;
	}
	dead_reasons(all, n);
	if (as_json) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "id", json_object_new_string(all[i].id));
			json_object_object_add(o, "type", json_object_new_string(all[i].type));
			json_object_object_add(o, "reason", json_object_new_string(all[i].reason));
			json_object_object_add(o, "routingKey",
					       json_object_new_string(all[i].m.routing_key));
			json_object_object_add(o, "deaths",
					       json_object_new_int64(all[i].m.death_count));
			json_object_object_add(o, "deadAt", json_object_new_string(all[i].dead_at));
			json_object_object_add(o, "bodySha256", json_object_new_string(all[i].sha));
			json_object_object_add(o, "passwordHash", json_object_new_string(all[i].hash));
			json_object_array_add(arr, o);
		}
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
		json_object_put(arr);
	} else {
		if (n)
			printf("%-38s %-12s %-14s %-20s %-6s %s\n", "ID", "TYPE", "ROUTING KEY",
			       "DEAD SINCE", "HASH", "REASON");
		for (size_t i = 0; i < n; i++)
			printf("%-38s %-12s %-14s %-20s %-6s %s\n", all[i].id, all[i].type,
			       all[i].m.routing_key[0] ? all[i].m.routing_key : "-", all[i].dead_at,
			       all[i].hash, all[i].reason);
		printf("%zu dead letter%s in %s\n", n, n == 1 ? "" : "s", queue);
	}
	for (size_t i = 0; i < n; i++)
		mq_msg_release(&all[i].m);
	free(all);
	return rc;
}

/* Is id among the wanted ones and not replayed yet?  Marks it found. */
static int wanted(const char *id, char **ids, int nids, int *found, int once)
{
	for (int i = 0; i < nids; i++)
		if (strcmp(ids[i], id) == 0) {
			if (once && found[i])
				return 0;
			found[i] = 1;
			return 1;
		}
	return 0;
}

/* dlq replay (--all | ID...) */
static int dlq_replay(struct mq *mq, const char *queue, int all, char **ids, int nids)
{
	int *found = calloc((size_t)(nids ? nids : 1), sizeof(int));
	unsigned long replayed = 0, failed = 0;
	uint32_t todo = 0, consumers;
	int rc = 0;

	if (!found)
		return 1;
	/* only what is there now: a replayed message that the consumer rejects
	 * again comes back behind these, and must not be replayed in a loop */
	if (mq_queue_stat(mq, queue, &todo, &consumers) != 0) {
		fprintf(stderr, "magentactl: dlq: rabbitmq: %s\n",
			mq_connected(mq) ? "no dead-letter queue" : mq->err);
		free(found);
		return 1;
	}
	for (; todo > 0; todo--) {
		struct dead d;
		struct mq_out o;
		int got;

		memset(&d, 0, sizeof(d));
		got = mq_get(mq, queue, &d.m);
		if (got < 0) {
			fprintf(stderr, "magentactl: dlq: rabbitmq: %s\n", mq->err);
			rc = 1;
			break;
		}
		if (got == 0)
			break;
		dead_describe(&d);
		if (!all && !wanted(d.id, ids, nids, found, 1)) {
			mq_msg_release(&d.m); /* stays unacked: requeued at close */
			continue;
		}
		memset(&o, 0, sizeof(o));
		o.routing_key = d.m.routing_key;
		o.message_id = d.id;
		o.type = d.type;
		o.body = d.m.body;
		o.body_len = d.m.len;
		o.timestamp = d.m.timestamp;
		/* the relay's signature covers the body and routing key, both
		 * unchanged: it goes with them (an unsigned or forged message
		 * comes back to the DLQ) */
		o.sig = d.m.sig[0] ? d.m.sig : NULL;
		o.sig_kid = d.m.sig_kid[0] ? d.m.sig_kid : NULL;
		if (mq_publish_confirmed(mq, conf_str(CONF_EXCHANGE), "magentactl", &o, 1, 5000) !=
		    0) {
			fprintf(stderr, "magentactl: dlq: rabbitmq: %s\n", mq->err);
			mq_msg_release(&d.m);
			rc = 1;
			break;
		}
		if (o.outcome == MQ_ACKED && mq_ack(mq, d.m.tag, 0) == 0) {
			printf("replayed %s (%s, %s)\n", d.id, d.type, d.m.routing_key);
			replayed++;
		} else {
			fprintf(stderr, "magentactl: dlq: %s not replayed: %s\n", d.id,
				o.reason[0] ? o.reason : "not confirmed");
			failed++;
		}
		mq_msg_release(&d.m);
	}
	for (int i = 0; i < nids; i++)
		if (!found[i]) {
			fprintf(stderr, "magentactl: dlq: no dead letter with id '%s'\n", ids[i]);
			rc = 1;
		}
	printf("%lu replayed, %lu failed\n", replayed, failed);
	free(found);
	return rc || failed ? 1 : 0;
}

/* dlq list|replay ... */
int cmd_dlq(int argc, char **argv)
{
	struct mq mq;
	char queue[300];
	int rc, as_json = 0, all = 0, nids = 0;
	long limit = LIST_LIMIT_DEFAULT;
	char **ids;

	if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "replay") != 0)) {
		fprintf(stderr, "magentactl: dlq: expected 'list' or 'replay'\n");
		return 2;
	}
	ids = calloc((size_t)argc, sizeof(char *));
	if (!ids)
		return 1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[1], "list") == 0 && strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else if (strcmp(argv[1], "list") == 0 && strcmp(argv[i], "--limit") == 0 &&
			   i + 1 < argc) {
			limit = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[1], "replay") == 0 && strcmp(argv[i], "--all") == 0) {
			all = 1;
		} else if (strcmp(argv[1], "replay") == 0 && argv[i][0] != '-') {
			ids[nids++] = argv[i];
		} else {
			fprintf(stderr, "magentactl: dlq %s: unknown argument '%s'\n", argv[1],
				argv[i]);
			free(ids);
			return 2;
		}
	}
	if (strcmp(argv[1], "replay") == 0 && !all && nids == 0) {
		fprintf(stderr, "magentactl: dlq replay: give --all or the ids to replay\n");
		free(ids);
		return 2;
	}
	if (limit < 1) {
		fprintf(stderr, "magentactl: dlq list: --limit must be a positive number\n");
		free(ids);
		return 2;
	}
	if (sodium_init() < 0) {
		free(ids);
		return 1;
	}
	mq_init(&mq, "magentactl");
	mq.quiet = 1;
	topology_dlq_name(queue, sizeof(queue));
	if (mq_connect(&mq) != 0) {
		fprintf(stderr, "magentactl: dlq: rabbitmq: %s\n", mq.err);
		free(ids);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		rc = dlq_list(&mq, queue, as_json, limit);
	else
		rc = dlq_replay(&mq, queue, all, ids, nids);
	mq_close(&mq, 1); /* whatever was not acknowledged goes back */
	free(ids);
	return rc;
}
