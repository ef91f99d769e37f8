/* magenta-consumer: applies the user events of RabbitMQ to
 * MagentaAuthentication.
 *
 * Declares the topology (docs/events.md), consumes with manual acks and a
 * prefetch window, and applies the messages at hand in one transaction:
 * one apply_user_event() call per event, pipelined into a single round
 * trip.  Messages are acknowledged only after the COMMIT.
 *   poison (no valid relay signature, not JSON, unknown type, schema
 *     violation, a password hash unsealed or costlier than allowed):
 *     basic.reject without
 *     requeue, at once: the broker dead-letters it, the rest flows on;
 *   database unavailable, serialization failure, missing schema: nothing is
 *     acked or rejected; the batch is retried with backoff until it commits
 *     (never dead-lettered for it);
 *   an error caused by one message's data: the batch is retried one event
 *     per transaction, and only the culprit is nacked with requeue, so the
 *     queue's delivery limit dead-letters it if it keeps failing. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "mq.h"
#include "topology.h"
#include "backoff.h"
#include "clock.h"
#include "conf.h"
#include "daemon.h"
#include "daemon_metrics.h"
#include "db.h"
#include "event.h"
#include "roles.h"
#include "eventseal.h"
#include "eventsig.h"
#include "log.h"
#include "metrics_listen.h"
#include "phc.h"

#define CHUNK_MAX 500		       /* events per transaction (pipeline depth) */
#define FORGET_CHUNK "10000"           /* old event ids deleted per sweep */
#define STOP_GRACE_MS 3000	       /* SIGTERM: time to finish the batch in flight */
#define HASH_MAX_LANES 4	       /* argon2 p of an event's hash (ours: 1) */

/* One message held: received, maybe parsed, until settled. */
struct item {
	struct mq_msg m;
	struct event_in ev;
	int parsed;   /* ev holds a parsed document (release it) */
	int admitted; /* signed, parsed, checked: may be applied */
	int settled;  /* acked, nacked or rejected: the broker is told, drop it */
	char *hash; /* the opened passwordHash (ev.user points here), wiped */
	char outcome[16];
};

struct consumer {
	struct db db;
	struct mq mq;
	struct backoff dbbo; /* reconnect / retry pacing for PostgreSQL */
	int ready;	     /* topology declared and consuming on this connection */
	int failing;	     /* a non-connection database failure is being retried */
	struct db_stmt apply; /* apply_user_event, prepared on every connection */
	struct item *items;  /* held messages in delivery order */
	size_t n, cap;
	uint64_t next_sweep_ms;
	size_t chunk; /* events per transaction: half the prefetch window */
	unsigned long applied, other, poison;
	struct eventsig_verifier verifier; /* the relays' public keys */
	struct eventseal_opener opener;	   /* opens sealed password hashes */
};

enum apply_rc { APPLY_OK, APPLY_RETRY, APPLY_DATA };

/* One event, decided and applied by apply_user_event (its latest form:
 * sql/auth/019_request_id.sql); $17 the request id the message carried. */
#define APPLY_NPARAMS 17
static const char sql_apply[] = "SELECT apply_user_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
				" $11, $12, $13, $14, $15, $16, $17)";

static const char sql_rejected[] =
	"INSERT INTO rejected_messages (body_sha256, message_id, reason, detail, request_id)"
	" VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT (body_sha256) DO UPDATE SET reason = EXCLUDED.reason,"
	" detail = EXCLUDED.detail, request_id = EXCLUDED.request_id,"
	" rejected_at = clock_timestamp(),"
	" rejections = rejected_messages.rejections + 1";

/* The request id a message carried (correlation_id or x-request-id), or
 * NULL when it carried none or one unfit to log and store: a label the
 * sender chose, outside the signed body, never trusted beyond that. */
static const char *item_request_id(const struct item *it)
{
	return log_request_id_ok(it->m.request_id) ? it->m.request_id : NULL;
}

/* Free one item's memory. */
static void item_release(struct item *it)
{
	if (it->parsed)
		event_in_release(&it->ev);
	eventseal_free_plain(it->hash);
	mq_msg_release(&it->m);
	memset(it, 0, sizeof(*it));
}

/* Forget every held message (their delivery tags died with the channel:
 * the broker delivers them again). */
static void items_drop(struct consumer *c)
{
	for (size_t i = 0; i < c->n; i++)
		item_release(&c->items[i]);
	c->n = 0;
}

/* Free and remove settled items, keeping the order. */
static void items_compact(struct consumer *c)
{
	size_t o = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (!c->items[i].settled)
			c->items[o++] = c->items[i];
		else
			item_release(&c->items[i]);
	}
	c->n = o;
}

/* Room for one more item; NULL when out of memory. */
static struct item *items_push(struct consumer *c)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 128;
		struct item *p = realloc(c->items, cap * sizeof(*p));
		if (!p)
			return NULL;
		c->items = p;
		c->cap = cap;
	}
	memset(&c->items[c->n], 0, sizeof(c->items[0]));
	return &c->items[c->n];
}

/* Sleep up to ms, waking early on a signal. */
static void nap(long ms)
{
	if (ms > 0)
		poll(NULL, 0, (int)ms);
}

/* RabbitMQ connected with the topology declared and the consumer started. */
static int consumer_mq(struct consumer *c)
{
	if (!mq_connected(&c->mq))
		c->ready = 0;
	if (c->ready)
		return 0;
	items_drop(c);
	if (mq_connect(&c->mq) != 0 || !backoff_due(&c->mq.bo))
		return -1; /* down, or refused a moment ago */
	if (topology_declare(&c->mq) != 0 ||
	    mq_consume(&c->mq, conf_str(CONF_QUEUE), (int)conf_int(CONF_PREFETCH)) != 0) {
		if (mq_connected(&c->mq))
			mq_refused(&c->mq);
		return -1;
	}
	mq_accepted(&c->mq);
	c->ready = 1;
	log_info("event=consuming queue=%s type=%s prefetch=%ld", conf_str(CONF_QUEUE),
		 conf_str(CONF_QUEUE_TYPE), conf_int(CONF_PREFETCH));
	return 0;
}

/* Receive: wait up to wait_ms for one delivery, then take whatever else
 * is already there.  0, or -1 when the connection was lost. */
static int consumer_collect(struct consumer *c, long wait_ms)
{
	for (int got = 0; got < CHUNK_MAX; got++) {
		struct item *it = items_push(c);
		int r;

		if (!it) {
			log_error("event=out_of_memory held=%zu", c->n);
			return 0;
		}
		r = mq_next(&c->mq, &it->m, got == 0 ? (int)wait_ms : 0);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		c->n++;
	}
	return 0;
}

/* Hex SHA-256 of a body. */
static void body_sha256(const struct mq_msg *m, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)m->body, m->len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

/* A poison message: note why (best effort), log, reject to the DLQ. */
static void consumer_poison(struct consumer *c, struct item *it, const struct event_error *e)
{
	char sha[65], q1[160], q2[160], q3[300];

	body_sha256(&it->m, sha);
	if (c->db.conn && PQstatus(c->db.conn) == CONNECTION_OK) {
		const char *p[] = { sha, it->m.message_id[0] ? it->m.message_id : NULL, e->reason,
				    e->detail[0] ? e->detail : NULL, item_request_id(it) };
		PGresult *res = db_exec(&c->db, sql_rejected, 5, p, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !db_unavailable(&c->db, res))
			db_log_error("record_rejected", res);
		PQclear(res);
	}
	log_set_request_id(item_request_id(it));
	log_warnx("event=poison_rejected message_id=%s routing_key=%s reason=%s detail=%s "
		  "body_sha256=%s",
		  log_q(q1, sizeof(q1), it->m.message_id), log_q(q3, sizeof(q3), it->m.routing_key),
		  e->reason,
		  log_q(q2, sizeof(q2), e->detail), sha);
	log_set_request_id(NULL);
	c->poison++;
	if (mq_reject(&c->mq, it->m.tag, 0) == 0) {
		it->settled = 1;
		daemon_metrics_outcome("dead_lettered");
	}
}

/* The parameters of apply_user_event for one event. */
static void apply_params(const struct item *it, char version[24], char roles[64],
			 const char *p[APPLY_NPARAMS])
{
	const struct event_in *ev = &it->ev;
	const struct event_user *u = &ev->user;

	snprintf(version, 24, "%lld", ev->version);
	p[0] = ev->event_id;
	p[1] = ev->event_type;
	p[2] = ev->user_id;
	p[3] = version;
	p[4] = ev->occurred_at;
	p[5] = ev->has_data ? u->username : NULL;
	p[6] = ev->has_data ? u->email : NULL;
	p[7] = ev->has_data ? u->password_hash : NULL;
	p[8] = ev->has_data ? u->security_stamp : NULL;
	p[9] = ev->has_data ? (u->email_confirmed ? "t" : "f") : NULL;
	p[10] = ev->has_data ? (u->lockout_enabled ? "t" : "f") : NULL;
	p[11] = ev->has_data ? u->lockout_end : NULL;
	p[12] = ev->has_data ? u->created_at : NULL;
	p[13] = ev->has_data ? u->updated_at : NULL;
	p[14] = ev->has_data ? u->display_name : NULL;
	p[15] = ev->has_data ? roles_to_pg(u->roles, roles, 64) : NULL;
	p[16] = item_request_id(it);
}

/* Is a failed result caused by the message's data (22xxx data exception,
 * 23xxx integrity other than a unique race, P0xxx raised)?  Everything
 * else is the system's state: retry later, never blame the message. */
static int data_error(struct db *db, const PGresult *res)
{
	const char *st = db_sqlstate(res);

	if (db_unavailable(db, res))
		return 0;
	if (strcmp(st, "23505") == 0)
		return 0; /* two consumers inserting the same user: retry */
	return strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 || strncmp(st, "P0", 2) == 0;
}

/* Apply k events in one transaction, pipelined.  APPLY_OK with every
 * its[i]->outcome set; APPLY_RETRY for a transient failure (logged);
 * APPLY_DATA when one event's data made it fail. */
static enum apply_rc apply_chunk(struct consumer *c, struct item **its, size_t k)
{
	enum apply_rc rc = APPLY_RETRY;
	PGresult *err = NULL, *res;

	if (db_pipeline_enter(&c->db) != 0)
		return APPLY_RETRY;
	db_pipeline_send(&c->db, "BEGIN");
	for (size_t i = 0; i < k; i++) {
		char version[24], roles[64];
		const char *p[APPLY_NPARAMS];

		apply_params(its[i], version, roles, p);
		db_pipeline_send_stmt(&c->db, &c->apply, p);
	}
	db_pipeline_send(&c->db, "COMMIT");
	db_pipeline_sync(&c->db);

	/* results: BEGIN, k calls, COMMIT; the first failure is kept */
	for (size_t q = 0; q < k + 2 && (res = db_pipeline_result(&c->db)) != NULL; q++) {
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && !err) {
			err = res;
			continue;
		}
		if (q >= 1 && q <= k && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			snprintf(its[q - 1]->outcome, sizeof(its[q - 1]->outcome), "%s",
				 PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (db_pipeline_exit(&c->db, err) != 0) {
		rc = APPLY_RETRY; /* the connection was closed: a fresh one next time */
		goto out;
	}
	db_rollback(&c->db); /* the transaction an error left open, if any */
	if (!err) {
		rc = APPLY_OK;
		goto out;
	}
	if (data_error(&c->db, err)) {
		rc = APPLY_DATA;
		goto out;
	}
	if (!db_unavailable(&c->db, err) && !c->failing) {
		db_log_error("apply", err);
		c->failing = 1;
	}
	rc = APPLY_RETRY;
out:
	PQclear(err);
	return rc;
}

/* Log the result of one applied event. */
static void log_outcome(struct consumer *c, const struct item *it)
{
	const struct event_in *ev = &it->ev;

	daemon_metrics_outcome(it->outcome);
	/* req=, the key of the HTTP services' lines: one grep follows a
	 * request from its HTTP line to here */
	log_set_request_id(item_request_id(it));
	if (strcmp(it->outcome, "applied") == 0) {
		daemon_metrics_lag(ev->occurred_at);
		c->applied++;
		log_info("event=event_applied event_id=%s type=%s user=%s version=%lld",
			 ev->event_id, ev->event_type, ev->user_id, ev->version);
	} else {
		/* stale, same_version (another event id brought that version),
		 * redelivered (this event id again), parked; amqp_redelivered is
		 * the broker's flag, which says nothing of what the database
		 * found */
		c->other++;
		log_info("event=event_%s event_id=%s type=%s user=%s version=%lld "
			 "amqp_redelivered=%d",
			 it->outcome, ev->event_id, ev->event_type, ev->user_id, ev->version,
			 it->m.redelivered);
	}
	log_set_request_id(NULL);
}

/* The data of one event broke its transaction: apply the chunk one event
 * at a time; only the culprit is nacked (requeued; the delivery limit
 * dead-letters it if it never succeeds).  -1 on a transient failure. */
static int apply_isolated(struct consumer *c, struct item **its, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		enum apply_rc rc = apply_chunk(c, &its[i], 1);

		if (rc == APPLY_RETRY)
			return -1;
		if (rc == APPLY_DATA) {
			log_set_request_id(item_request_id(its[i]));
			log_error("event=event_failed event_id=%s type=%s user=%s "
				  "msg=\"its data breaks the transaction: requeued\"",
				  its[i]->ev.event_id, its[i]->ev.event_type, its[i]->ev.user_id);
			log_set_request_id(NULL);
			if (mq_nack_requeue(&c->mq, its[i]->m.tag) != 0)
				return -1;
			daemon_metrics_outcome("requeued");
		} else {
			log_outcome(c, its[i]);
			if (mq_ack(&c->mq, its[i]->m.tag, 0) != 0)
				return -1;
		}
		its[i]->settled = 1;
	}
	return 0;
}

/* Check a message before it may touch the database: signed by a relay
 * (before anything parses it), well formed, its password hash sealed to
 * us and, once opened, an argon2 hash no costlier than we allow.  0 with
 * it->ev parsed, or -1 with e filled (poison). */
static int consumer_admit(struct consumer *c, struct item *it, struct event_error *e)
{
	const char *why;
	struct phc_argon2 ph;

	e->detail[0] = '\0';
	if (eventsig_verify(&c->verifier, it->m.sig_kid, it->m.sig, it->m.routing_key,
			    it->m.body, it->m.len, &why) != 0) {
		e->reason = "bad_signature";
		snprintf(e->detail, sizeof(e->detail), "%s", why);
		return -1;
	}
	if (event_parse(&it->ev, it->m.body, it->m.len, e) != 0)
		return -1;
	it->parsed = 1;
	if (!it->ev.has_data)
		return 0;
	if (!eventseal_is_sealed(it->ev.user.password_hash)) {
		e->reason = "unsealed_hash";
		snprintf(e->detail, sizeof(e->detail), "data.passwordHash");
		return -1;
	}
	it->hash = eventseal_open(&c->opener, it->ev.user.password_hash, &why);
	if (!it->hash) {
		e->reason = "bad_seal";
		snprintf(e->detail, sizeof(e->detail), "data.passwordHash: %s", why);
		return -1;
	}
	it->ev.user.password_hash = it->hash;
	if (phc_argon2_parse(it->hash, &ph) != 0) {
		e->reason = "invalid_field";
		snprintf(e->detail, sizeof(e->detail), "data.passwordHash");
		return -1;
	}
	if (ph.m > (unsigned long)conf_int(CONF_ARGON2_MAX_MEMLIMIT_KIB) ||
	    ph.t > (unsigned long)conf_int(CONF_ARGON2_MAX_OPSLIMIT) || ph.p > HASH_MAX_LANES ||
	    ph.p == 0) {
		e->reason = "hash_too_costly";
		snprintf(e->detail, sizeof(e->detail), "data.passwordHash: m=%lu t=%lu p=%lu", ph.m,
			 ph.t, ph.p);
		return -1;
	}
	return 0;
}

/* Settle what is held: reject poison, apply the rest in transactions,
 * ack after each commit.  On a transient failure the rest stays held
 * and the database backoff decides when to try again. */
static void consumer_process(struct consumer *c)
{
	struct item *chunk[CHUNK_MAX];
	size_t i = 0;

	/* poison needs no database: it goes to the DLQ at once */
	for (size_t j = 0; j < c->n; j++) {
		struct item *it = &c->items[j];
		struct event_error e;

		if (it->admitted || it->settled)
			continue;
		if (consumer_admit(c, it, &e) != 0)
			consumer_poison(c, it, &e);
		else
			it->admitted = 1;
	}
	items_compact(c);
	if (c->n == 0 || !backoff_due(&c->dbbo) || !db_conn_backoff(&c->db, &c->dbbo))
		return;

	while (i < c->n && mq_connected(&c->mq)) {
		size_t k = 0;
		enum apply_rc rc;

		while (i + k < c->n && k < c->chunk) {
			chunk[k] = &c->items[i + k];
			k++;
		}
		uint64_t t0 = clock_mono_ms();
		rc = apply_chunk(c, chunk, k);
		daemon_metrics_apply_time((double)(clock_mono_ms() - t0) / 1000);
		log_debug("event=chunk events=%zu rc=%d ms=%lu", k, (int)rc,
			  (unsigned long)(clock_mono_ms() - t0));
		if (rc == APPLY_RETRY) {
			backoff_fail(&c->dbbo);
			break;
		}
		if (rc == APPLY_DATA) {
			if (apply_isolated(c, chunk, k) != 0) {
				backoff_fail(&c->dbbo);
				break;
			}
		} else {
			/* every lower tag is settled already: one multiple ack */
			for (size_t j = 0; j < k; j++)
				log_outcome(c, chunk[j]);
			if (mq_ack(&c->mq, chunk[k - 1]->m.tag, 1) != 0)
				break;
			for (size_t j = 0; j < k; j++)
				chunk[j]->settled = 1;
		}
		if (c->failing) {
			log_info("event=apply_recovered");
			c->failing = 0;
		}
		backoff_reset(&c->dbbo);
		i += k;
	}
	items_compact(c);
}

/* Forget handled event ids older than processed_events_retention_days,
 * one chunk.  Safe for the duplicate filter: an event delivered again after
 * that changes nothing, its version being stored already (it is recorded
 * anew as same_version or stale). */
static const char sql_forget[] =
	"DELETE FROM processed_events WHERE event_id IN (SELECT event_id FROM processed_events"
	" WHERE processed_at < now() - $1::integer * interval '1 day'"
	" ORDER BY processed_at LIMIT " FORGET_CHUNK ")";

/* Forget why messages were rejected once they have not been rejected for
 * rejected_messages_retention_days: `magentactl dlq list` then shows the
 * broker's reason for a dead letter still in the DLQ that long. */
static const char sql_forget_rejected[] =
	"DELETE FROM rejected_messages WHERE body_sha256 IN (SELECT body_sha256"
	" FROM rejected_messages WHERE rejected_at < now() - $1::integer * interval '1 day'"
	" ORDER BY rejected_at LIMIT " FORGET_CHUNK ")";

static void consumer_forget(struct consumer *c)
{
	if (conf_int(CONF_PROCESSED_RETENTION_DAYS) > 0)
		db_prune(&c->db, sql_forget, conf_int(CONF_PROCESSED_RETENTION_DAYS),
			 "processed_pruned");
	if (conf_int(CONF_REJECTED_RETENTION_DAYS) > 0)
		db_prune(&c->db, sql_forget_rejected, conf_int(CONF_REJECTED_RETENTION_DAYS),
			 "rejected_pruned");
}

/* Retry parked events now and then (a safety net; see apply_user_event),
 * and forget old event ids. */
static void consumer_sweep(struct consumer *c)
{
	PGresult *res;

	if (clock_mono_ms() < c->next_sweep_ms)
		return;
	c->next_sweep_ms = clock_mono_ms() + (uint64_t)conf_int(CONF_CONSUMER_SWEEP_S) * 1000;
	if (!db_conn_backoff(&c->db, &c->dbbo))
		return;
	res = db_exec(&c->db, "SELECT retry_parked_events()", 0, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		if (n > 0)
			log_info("event=parked_resolved events=%ld", n);
	} else if (!db_unavailable(&c->db, res)) {
		db_log_error("retry_parked", res);
	}
	PQclear(res);
	consumer_forget(c);
}

static int consumer_keys_check(char *err, size_t errlen);
static void consumer_keys_reload(struct consumer *c);

/* Once per loop turn: the gauges, and the scrapes waiting (metrics_listen
 * never blocks; the loop comes round at least once a second). */
static void consumer_metrics(struct consumer *c)
{
	daemon_metrics_loop(mq_connected(&c->mq),
			    c->db.conn && PQstatus(c->db.conn) == CONNECTION_OK, c->mq.connects);
	daemon_metrics_held(c->n);
	metrics_listen_serve();
}

/* The main loop, then the batch in flight at SIGTERM. */
static void consumer_run(struct consumer *c)
{
	uint64_t deadline;

	while (!daemon_stop) {
		long wait;

		if (daemon_signals(consumer_keys_check) == 1)
			consumer_keys_reload(c);
		consumer_metrics(c);
		if (consumer_mq(c) != 0) {
			long ms = backoff_remaining(&c->mq.bo);
			if (metrics_listen_busy() && ms > 20)
				ms = 20;
			nap(ms < 1000 ? ms : 1000);
			continue;
		}
		/* at most 1 s: librabbitmq's waits do not end on a signal */
		wait = c->n == 0 ? 1000 : backoff_remaining(&c->dbbo);
		if (wait > 1000)
			wait = 1000;
		if (metrics_listen_busy() && wait > 20)
			wait = 20; /* a scrape in progress: back soon */
		if (consumer_collect(c, wait) != 0) {
			items_drop(c);
			continue;
		}
		if (c->n > 0 && (backoff_due(&c->dbbo) || !c->items[c->n - 1].admitted))
			consumer_process(c);
		/* on its timer, also while events keep coming (not only when
		 * none came for a second) */
		if (c->n == 0)
			consumer_sweep(c);
	}
	deadline = clock_mono_ms() + STOP_GRACE_MS;
	while (c->n > 0 && mq_connected(&c->mq) && clock_mono_ms() < deadline) {
		if (backoff_due(&c->dbbo))
			consumer_process(c);
		else
			nap(backoff_remaining(&c->dbbo) < 100 ? backoff_remaining(&c->dbbo) : 100);
	}
	if (c->n > 0)
		log_warnx("event=stop_unfinished held=%zu msg=\"left unacknowledged: RabbitMQ "
			  "delivers them again\"",
			  c->n);
	items_drop(c);
}

/* The relays' public keys and our seal keys, and hash limits that admit
 * the hashes we make ourselves: 0, or -1 with err. */
static int consumer_keys_load(struct eventsig_verifier *v, struct eventseal_opener *o, char *err,
			      size_t errlen)
{
	if (conf_int(CONF_ARGON2_MAX_OPSLIMIT) < conf_int(CONF_ARGON2_OPSLIMIT) ||
	    conf_int(CONF_ARGON2_MAX_MEMLIMIT_KIB) < conf_int(CONF_ARGON2_MEMLIMIT_KIB)) {
		snprintf(err, errlen, "argon2_max_opslimit and argon2_max_memlimit_kib must be at "
				      "least argon2_opslimit and argon2_memlimit_kib");
		return -1;
	}
	if (eventsig_verifier_load(v, conf_str(CONF_EVENT_VERIFY_KEYS), err, errlen) != 0)
		return -1;
	if (eventseal_opener_load(o, conf_str(CONF_EVENT_SEAL_KEYS), err, errlen) != 0)
		return -1;
	return 0;
}

/* The keys at start: without them the consumer does not start. */
static int consumer_keys(struct consumer *c)
{
	char err[512], q[600];

	if (consumer_keys_load(&c->verifier, &c->opener, err, sizeof(err)) != 0) {
		log_error("event=config_error reason=%s msg=\"event_verify_keys and event_seal_keys "
			  "are needed (magentactl keygen --events)\"",
			  log_q(q, sizeof(q), err));
		return -1;
	}
	return 0;
}

/* The auth database's handle: every connection set up for the apply. */
static int consumer_db_init(struct consumer *c)
{
	db_init(&c->db, conf_str(CONF_AUTH_DB), "magenta-consumer");
	/* a message is acked after COMMIT returns: that commit must be
	 * durable whatever the server's default says; and a server that
	 * hangs (not down) must not hang the consumer: a cancelled
	 * statement is retried like any transient failure */
	db_on_connect(&c->db, "SET synchronous_commit = on; SET statement_timeout = '30s'");
	/* parsed and planned once per connection */
	c->apply = (struct db_stmt){ .name = "apply", .sql = sql_apply, .nparams = APPLY_NPARAMS };
	return db_prepare_on_connect(&c->db, &c->apply);
}

/* A reload's check, in its throw-away child: the keys load. */
static int consumer_keys_check(char *err, size_t errlen)
{
	struct eventsig_verifier v;
	struct eventseal_opener o;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = consumer_keys_load(&v, &o, err, errlen);
	eventseal_opener_release(&o);
	return rc;
}

/* After a reload: the keys the configuration names now (rotation). */
static void consumer_keys_reload(struct consumer *c)
{
	struct eventsig_verifier v;
	struct eventseal_opener o;
	char err[512], q[600];

	memset(&o, 0, sizeof(o));
	if (consumer_keys_load(&v, &o, err, sizeof(err)) != 0) {
		eventseal_opener_release(&o);
		log_error("event=reload_failed stage=keys reason=%s msg=\"the old keys stay\"",
			  log_q(q, sizeof(q), err));
		return;
	}
	eventseal_opener_release(&c->opener);
	c->verifier = v;
	c->opener = o;
	eventseal_opener_release(&o);
	log_info("event=keys verify_keys=%zu seal_keys=%zu", c->verifier.n, c->opener.n);
}

/* Options and configuration, then the loop until SIGTERM. */
int main(int argc, char **argv)
{
	struct consumer c;
	int rc;

	rc = daemon_setup("magenta-consumer", "consumer", CONF_FOR_CONSUMER,
			  "applies the user events of RabbitMQ to MagentaAuthentication "
			  "(docs/events.md)",
			  argc, argv);
	if (rc >= 0)
		return rc;
	if (sodium_init() < 0) {
		log_error("event=sodium_init_failed");
		return 1;
	}
	memset(&c, 0, sizeof(c));
	if (consumer_keys(&c) != 0)
		return 1;
	if (consumer_db_init(&c) != 0)
		return 1;
	mq_init(&c.mq, "magenta-consumer");
	daemon_metrics_init(DAEMON_METRICS_CONSUMER, "consumer");
	if (metrics_listen_open(conf_str(CONF_CONSUMER_METRICS_LISTEN), daemon_metrics_render) !=
	    0)
		return 1;
	backoff_init(&c.dbbo, 250, conf_int(CONF_RECONNECT_MAX_MS));
	/* acking each half of the window as soon as it is committed lets the
	 * broker deliver the next half while this one is applied */
	c.chunk = (size_t)(conf_int(CONF_PREFETCH) + 1) / 2;
	if (c.chunk > CHUNK_MAX)
		c.chunk = CHUNK_MAX;
	log_info("event=start pid=%ld config=\"%s\" queue=%s verify_keys=%zu seal_keys=%zu",
		 (long)getpid(), conf_path(), conf_str(CONF_QUEUE), c.verifier.n, c.opener.n);
	consumer_run(&c);
	metrics_listen_close();
	mq_close(&c.mq, 1);
	db_close(&c.db);
	free(c.items);
	eventseal_opener_release(&c.opener);
	log_info("event=stop pid=%ld applied=%lu other=%lu poison=%lu", (long)getpid(), c.applied,
		 c.other, c.poison);
	daemon_cleanup();
	return 0;
}
