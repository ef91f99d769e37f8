/* magenta-relay: publishes MagentaUsers.outbox to RabbitMQ.
 *
 * Wakes on NOTIFY magenta_outbox (sent by the registration transaction)
 * and at least every relay_poll_ms; claims unpublished rows in id order
 * with FOR UPDATE SKIP LOCKED (several relays may run), publishes them
 * persistent and mandatory with publisher confirms, and marks a row
 * published only after its ack with no basic.return.  A returned or nacked
 * row stays unpublished, with attempts, last_error and a next_attempt_at
 * that backs off.  A crash between publish and mark publishes the row
 * again: the consumer drops the duplicate by event id.  Every message
 * goes out with its passwordHash sealed to the consumer and signed by the
 * relay (eventseal.h, eventsig.h). */
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
#include "eventseal.h"
#include "eventsig.h"
#include "log.h"
#include "metrics_listen.h"
#include "strbuf.h"

#define APP_ID "magenta-relay"
#define CONFIRM_TIMEOUT_MS 5000
#define SWEEP_EVERY_MS (10 * 60 * 1000)
#define SWEEP_CHUNK "10000"

struct relay {
	struct db db;
	struct mq mq;
	struct backoff dbbo;	/* reconnect pacing for PostgreSQL */
	int exchange_ok;	/* exchange declared on the current AMQP connection */
	uint64_t next_sweep_ms; /* retention sweep due */
	int refusing;		/* the broker returns or nacks rows: logged once */
	uint64_t next_count_ms; /* the outbox backlog gauge is due */
	unsigned long published;
	struct eventsig_signer signer; /* signs every message */
	struct eventseal_sealer sealer; /* seals every passwordHash */
};

/* One row's wire form: its body with the hash sealed, and its signature. */
struct wire {
	char *body;
	char sig[EVENTSIG_B64_LEN + 1];
};

/* Claim a batch: unpublished rows that are due, oldest first. */
static const char sql_claim[] =
	"SELECT id, event_id, event_type, routing_key, payload::text,"
	" extract(epoch FROM created_at)::bigint, attempts, request_id"
	" FROM outbox"
	" WHERE published_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
	" ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";

static const char sql_mark[] =
	"UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1,"
	" last_error = NULL, next_attempt_at = NULL WHERE id = ANY($1::bigint[])";

static const char sql_failed[] =
	"UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.err,"
	" next_attempt_at = now() + f.delay_ms * interval '1 millisecond'"
	" FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS f(id, err, delay_ms)"
	" WHERE o.id = f.id";

/* The backlog gauges (daemon_metrics_outbox), once a second at most. */
static const char sql_backlog[] =
	"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
	" FROM outbox WHERE published_at IS NULL";

static const char sql_sweep[] =
	"DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
	" WHERE published_at < now() - $1::integer * interval '1 day'"
	" ORDER BY published_at LIMIT " SWEEP_CHUNK ")";

/* Append s as a double-quoted array element. */
static void buf_elem(struct strbuf *b, const char *s)
{
	strbuf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_add(b, "\\", 1);
		strbuf_add(b, s, 1);
	}
	strbuf_add(b, "\"", 1);
}

/* The PostgreSQL connection, (re)connected (and listening: db_on_connect
 * in main); NULL while the database is unreachable (then retried with
 * backoff). */
static PGconn *relay_db(struct relay *r)
{
	PGconn *c = db_conn_backoff(&r->db, &r->dbbo);

	if (c)
		backoff_reset(&r->dbbo);
	return c;
}

/* Count a batch's verdicts and its time (daemon_metrics.h); the events
 * count as published once acked, as the outbox marks them. */
static void relay_count(const struct mq_out *out, int n, double seconds)
{
	daemon_metrics_publish_time(seconds);
	for (int i = 0; i < n; i++) {
		if (out[i].outcome == MQ_ACKED || out[i].outcome == MQ_RETURNED)
			daemon_metrics_confirm(1);
		else if (out[i].outcome == MQ_NACKED)
			daemon_metrics_confirm(0);
		if (out[i].outcome == MQ_RETURNED)
			daemon_metrics_returned();
		else if (out[i].outcome == MQ_ACKED)
			daemon_metrics_published(out[i].type);
	}
}

/* The backlog gauges, at most once a second (one cheap count). */
static void relay_backlog(struct relay *r)
{
	PGresult *res;

	if (clock_mono_ms() < r->next_count_ms)
		return;
	r->next_count_ms = clock_mono_ms() + 1000;
	res = db_exec(&r->db, sql_backlog, 0, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		daemon_metrics_outbox(atoll(PQgetvalue(res, 0, 0)), atof(PQgetvalue(res, 0, 1)));
	else if (!db_unavailable(&r->db, res))
		db_log_error("backlog", res);
	PQclear(res);
}

/* After a nack, leave the channel: a relay that lost its node and
 * reconnected to another while the queue was electing a new leader had its
 * publishes nacked, and RabbitMQ 3.10 went on nacking every publish on that
 * channel (for minutes, in tests/http/25-pipeline-cluster.bats), while a
 * new channel was accepted a tenth of a second later.  The rows are retried
 * on a new connection (to the same node). */
static void relay_drop_nacked(struct relay *r, const struct mq_out *out, int n)
{
	for (int i = 0; i < n; i++) {
		if (out[i].outcome == MQ_NACKED && mq_connected(&r->mq)) {
			log_info("event=amqp_reconnect reason=nacked host=%s port=%d", r->mq.host,
				 r->mq.port);
			mq_close(&r->mq, 1);
			return;
		}
	}
}

/* The AMQP connection with the exchange declared, or -1. */
static int relay_mq(struct relay *r)
{
	if (!mq_connected(&r->mq))
		r->exchange_ok = 0;
	if (mq_connect(&r->mq) != 0)
		return -1;
	if (!r->exchange_ok) {
		if (!backoff_due(&r->mq.bo))
			return -1; /* refused a moment ago */
		if (topology_declare_exchange(&r->mq) != 0) {
			if (mq_connected(&r->mq))
				mq_refused(&r->mq);
			return -1;
		}
		mq_accepted(&r->mq);
		r->exchange_ok = 1;
	}
	return 0;
}

/* Run a statement without rows; 0 ok, -1 (logged unless the database is
 * simply down). */
static int relay_exec(struct relay *r, const char *what, const char *sql, int n,
		      const char *const *p)
{
	PGresult *res = db_exec(&r->db, sql, n, p, 0);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok && !db_unavailable(&r->db, res))
		db_log_error(what, res);
	PQclear(res);
	return ok ? 0 : -1;
}

/* Publish one batch.  Returns the rows claimed (0: nothing due), or -1
 * when PostgreSQL or RabbitMQ failed. */
static int relay_batch(struct relay *r)
{
	char limit[16];
	const char *p[1] = { limit };
	PGresult *res = NULL;
	struct mq_out *out = NULL;
	struct wire *wire = NULL;
	struct strbuf ok_ids = { 0 }, bad_ids = { 0 }, bad_errs = { 0 }, bad_delays = { 0 };
	int n = 0, rc = -1, nok = 0, nbad = 0, pub_rc;
	char first_err[96] = "";

	snprintf(limit, sizeof(limit), "%ld", conf_int(CONF_RELAY_BATCH));
	if (db_begin(&r->db) != 0)
		return -1;
	res = db_exec(&r->db, sql_claim, 1, p, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!db_unavailable(&r->db, res))
			db_log_error("claim", res);
		goto out;
	}
	n = PQntuples(res);
	if (n == 0) {
		rc = db_commit(&r->db) == 0 ? 0 : -1;
		goto out;
	}
	out = calloc((size_t)n, sizeof(*out));
	wire = calloc((size_t)n, sizeof(*wire));
	if (!out || !wire)
		goto out;
	for (int i = 0; i < n; i++) {
		char err[256];

		out[i].message_id = PQgetvalue(res, i, 1);
		out[i].type = PQgetvalue(res, i, 2);
		out[i].routing_key = PQgetvalue(res, i, 3);
		out[i].timestamp = strtoull(PQgetvalue(res, i, 5), NULL, 10);
		/* the request that wrote the row, a label beside the signed body
		 * (the services store only sane ids; anything else is dropped) */
		out[i].request_id = PQgetisnull(res, i, 7) || !log_request_id_ok(PQgetvalue(res, i, 7))
					    ? NULL
					    : PQgetvalue(res, i, 7);
		/* the outbox keeps the event as written; the wire carries it
		 * with the hash sealed, signed (docs/events.md) */
		wire[i].body = eventseal_wire_body(&r->sealer, PQgetvalue(res, i, 4),
						   (size_t)PQgetlength(res, i, 4), &out[i].body_len,
						   err, sizeof(err));
		if (!wire[i].body || eventsig_sign(&r->signer, out[i].routing_key, wire[i].body,
						   out[i].body_len, wire[i].sig) != 0) {
			char q[300];
			log_error("event=prepare_failed event_id=%s reason=%s msg=\"the batch is "
				  "retried\"",
				  out[i].message_id,
				  log_q(q, sizeof(q), wire[i].body ? "cannot sign" : err));
			goto out;
		}
		out[i].body = wire[i].body;
		out[i].sig = wire[i].sig;
		out[i].sig_kid = r->signer.kid;
	}
	double t0 = clock_mono();
	pub_rc = mq_publish_confirmed(&r->mq, conf_str(CONF_EXCHANGE), APP_ID, out, (size_t)n,
				      CONFIRM_TIMEOUT_MS);
	relay_count(out, n, clock_mono() - t0);
	relay_drop_nacked(r, out, n);

	strbuf_addstr(&ok_ids, "{");
	strbuf_addstr(&bad_ids, "{");
	strbuf_addstr(&bad_errs, "{");
	strbuf_addstr(&bad_delays, "{");
	for (int i = 0; i < n; i++) {
		const char *id = PQgetvalue(res, i, 0);
		long attempts = strtol(PQgetvalue(res, i, 6), NULL, 10);
		char delay[32], q[128];
		const char *err;

		if (out[i].outcome == MQ_ACKED) {
			strbuf_addstr(&ok_ids, nok++ ? "," : "");
			strbuf_addstr(&ok_ids, id);
			continue;
		}
		if (out[i].outcome == MQ_PENDING) {
			/* fate unknown (connection lost): try again as soon as
			 * RabbitMQ is back; a duplicate is harmless */
			err = "connection lost before the broker confirmed";
			snprintf(delay, sizeof(delay), "0");
		} else {
			err = out[i].reason;
			snprintf(delay, sizeof(delay), "%ld",
				 backoff_delay(conf_int(CONF_RELAY_POLL_MS),
					       conf_int(CONF_RELAY_RETRY_MAX_MS),
					       (unsigned)(attempts < 30 ? attempts : 30),
					       randombytes_random()));
			if (!first_err[0])
				snprintf(first_err, sizeof(first_err), "%s", err);
			log_debug("event=publish_refused event_id=%s attempts=%ld reason=%s "
				  "retry_in_ms=%s",
				  out[i].message_id, attempts + 1, log_q(q, sizeof(q), err), delay);
		}
		strbuf_addstr(&bad_ids, nbad ? "," : "");
		strbuf_addstr(&bad_errs, nbad ? "," : "");
		strbuf_addstr(&bad_delays, nbad ? "," : "");
		nbad++;
		strbuf_addstr(&bad_ids, id);
		buf_elem(&bad_errs, err);
		strbuf_addstr(&bad_delays, delay);
	}
	strbuf_addstr(&ok_ids, "}");
	strbuf_addstr(&bad_ids, "}");
	strbuf_addstr(&bad_errs, "}");
	strbuf_addstr(&bad_delays, "}");
	if (ok_ids.oom || bad_ids.oom || bad_errs.oom || bad_delays.oom) {
		log_error("event=out_of_memory");
		goto out;
	}
	if (nok) {
		const char *mp[] = { ok_ids.s };
		if (relay_exec(r, "mark_published", sql_mark, 1, mp) != 0)
			goto unmarked;
	}
	if (nbad) {
		const char *fp[] = { bad_ids.s, bad_errs.s, bad_delays.s };
		if (relay_exec(r, "mark_failed", sql_failed, 3, fp) != 0)
			goto unmarked;
	}
	if (db_commit(&r->db) != 0)
		goto unmarked;
	r->published += (unsigned long)nok;
	/* one line per event, with the request that caused it (req=, the key
	 * of the HTTP services' lines: one grep follows a request) */
	for (int i = 0; i < n; i++) {
		if (out[i].outcome != MQ_ACKED)
			continue;
		log_set_request_id(out[i].request_id);
		log_info("event=event_published event_id=%s type=%s routing_key=%s",
			 out[i].message_id, out[i].type, out[i].routing_key);
		log_set_request_id(NULL);
	}
	/* refusals are a state: logged when they start and when they end */
	if (first_err[0] && !r->refusing) {
		char q[128];
		log_warnx("event=publish_refused rows=%d reason=%s msg=\"rows stay unpublished and "
			  "are retried with backoff\"",
			  nbad, log_q(q, sizeof(q), first_err));
		r->refusing = 1;
	} else if (!first_err[0] && nok && r->refusing) {
		log_info("event=publish_recovered");
		r->refusing = 0;
	}
	log_debug("event=batch rows=%d published=%d refused=%d", n, nok, nbad);
	rc = pub_rc == 0 ? n : -1;
	goto out;
unmarked:
	if (nok)
		log_warnx("event=mark_failed published=%d msg=\"published but not marked: "
			  "they will be published again (the consumer drops duplicates)\"",
			  nok);
out:
	db_rollback(&r->db); /* a no-op after a COMMIT */
	for (int i = 0; wire && i < n; i++)
		free(wire[i].body);
	free(wire);
	free(out);
	strbuf_release(&ok_ids);
	strbuf_release(&bad_ids);
	strbuf_release(&bad_errs);
	strbuf_release(&bad_delays);
	PQclear(res);
	return rc;
}

/* Delete published rows older than the retention period, one chunk
 * (none with 0: kept for ever, as for the consumer's retention keys). */
static void relay_sweep(struct relay *r)
{
	long deleted = 0;

	if (conf_int(CONF_OUTBOX_RETENTION_DAYS) > 0)
		deleted = db_prune(&r->db, sql_sweep, conf_int(CONF_OUTBOX_RETENTION_DAYS),
				   "outbox_pruned");

	/* failed (tried again at the next poll) or a full chunk (more may be
	 * due: go on at the next poll); else wait for the next period */
	if (deleted >= 0 && deleted < atol(SWEEP_CHUNK))
		r->next_sweep_ms = clock_mono_ms() + SWEEP_EVERY_MS;
}

/* Drain pending notifications; 1 if any arrived. */
static int relay_notified(struct relay *r)
{
	PGnotify *nt;
	int any = 0;

	if (!r->db.conn || PQconsumeInput(r->db.conn) == 0)
		return 0;
	while ((nt = PQnotifies(r->db.conn)) != NULL) {
		any = 1;
		PQfreemem(nt);
	}
	return any;
}

/* Sleep until a notification, AMQP traffic, a signal or timeout_ms. */
static void relay_wait(struct relay *r, long timeout_ms)
{
	struct pollfd fds[2 + METRICS_LISTEN_FDS];
	int nfds = 0, pg = -1;

	if (relay_notified(r))
		return;
	if (r->db.conn && PQstatus(r->db.conn) == CONNECTION_OK) {
		pg = nfds;
		fds[nfds].fd = PQsocket(r->db.conn);
		fds[nfds++].events = POLLIN;
	}
	if (mq_connected(&r->mq)) {
		fds[nfds].fd = mq_fd(&r->mq);
		fds[nfds++].events = POLLIN;
	}
	nfds += metrics_listen_pollfds(fds + nfds, METRICS_LISTEN_FDS);
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (poll(fds, (nfds_t)nfds, (int)timeout_ms) < 0 && errno != EINTR)
		log_warn("event=poll_failed");
	metrics_listen_serve();
	if (pg >= 0 && (fds[pg].revents & (POLLIN | POLLHUP | POLLERR)))
		relay_notified(r);
}

static int relay_keys_check(char *err, size_t errlen);
static void relay_keys_reload(struct relay *r);

/* The main loop. */
static void relay_run(struct relay *r)
{
	long poll_ms = conf_int(CONF_RELAY_POLL_MS);

	while (!daemon_stop) {
		int pg_ok, mq_ok, n = -1;
		long wait = poll_ms;

		if (daemon_signals(relay_keys_check) == 1)
			relay_keys_reload(r);
		mq_ok = relay_mq(r) == 0;
		pg_ok = relay_db(r) != NULL;
		daemon_metrics_loop(mq_ok, pg_ok, r->mq.connects);
		metrics_listen_serve(); /* also while full batches keep it from waiting */
		if (pg_ok)
			relay_backlog(r);
		/* while the broker blocks publishers (resource alarm), publishing
		 * would only time out: wait for connection.unblocked */
		if (mq_ok && pg_ok && !r->mq.blocked) {
			n = relay_batch(r);
			if (n >= conf_int(CONF_RELAY_BATCH))
				continue; /* a full batch: more is waiting */
		}
		if (pg_ok && clock_mono_ms() >= r->next_sweep_ms)
			relay_sweep(r);
		if (mq_connected(&r->mq))
			mq_service(&r->mq, 0); /* heartbeats, broker notices */
		if (daemon_stop)
			break;
		if (!mq_connected(&r->mq) && backoff_remaining(&r->mq.bo) < wait)
			wait = backoff_remaining(&r->mq.bo);
		if (!pg_ok && backoff_remaining(&r->dbbo) < wait)
			wait = backoff_remaining(&r->dbbo);
		if (n < 0 && mq_ok && pg_ok && wait > 100)
			wait = 100; /* a failed batch: look again soon */
		relay_wait(r, wait);
	}
}

/* The event signing key and the consumer's seal key: 0, or -1 with err. */
static int relay_keys_load(struct eventsig_signer *s, struct eventseal_sealer *p, char *err,
			   size_t errlen)
{
	if (eventsig_signer_load(s, conf_str(CONF_EVENT_SIGNING_KEY), err, errlen) != 0 ||
	    eventseal_sealer_load(p, conf_str(CONF_EVENT_SEAL_PUBLIC_KEY), err, errlen) != 0)
		return -1;
	return 0;
}

/* The keys at start: without both the relay does not start (nothing
 * unsigned or unsealed is ever published). */
static int relay_keys(struct relay *r)
{
	char err[512], q[600];

	if (relay_keys_load(&r->signer, &r->sealer, err, sizeof(err)) != 0) {
		log_error("event=config_error reason=%s msg=\"event_signing_key and "
			  "event_seal_public_key are needed (magentactl keygen --events)\"",
			  log_q(q, sizeof(q), err));
		return -1;
	}
	return 0;
}

/* A reload's check, in its throw-away child: both keys load. */
static int relay_keys_check(char *err, size_t errlen)
{
	struct eventsig_signer s;
	struct eventseal_sealer p;
	int rc = relay_keys_load(&s, &p, err, errlen);

	eventsig_signer_release(&s);
	return rc;
}

/* After a reload: the keys the configuration names now (rotation). */
static void relay_keys_reload(struct relay *r)
{
	struct eventsig_signer s;
	struct eventseal_sealer p;
	char err[512], q[600];

	if (relay_keys_load(&s, &p, err, sizeof(err)) != 0) {
		eventsig_signer_release(&s);
		log_error("event=reload_failed stage=keys reason=%s msg=\"the old keys stay\"",
			  log_q(q, sizeof(q), err));
		return;
	}
	eventsig_signer_release(&r->signer);
	r->signer = s;
	r->sealer = p;
	eventsig_signer_release(&s);
	log_info("event=keys signing_kid=%s seal_kid=%s", r->signer.kid, r->sealer.kid);
}

/* Options and configuration, then the loop until SIGTERM. */
int main(int argc, char **argv)
{
	struct relay r;
	int rc;

	rc = daemon_setup("magenta-relay", "relay", CONF_FOR_RELAY,
			  "publishes the MagentaUsers outbox to RabbitMQ (docs/events.md)", argc,
			  argv);
	if (rc >= 0)
		return rc;
	if (sodium_init() < 0) {
		log_error("event=sodium_init_failed");
		return 1;
	}
	memset(&r, 0, sizeof(r));
	if (relay_keys(&r) != 0)
		return 1;
	db_init(&r.db, conf_str(CONF_USERS_DB), "magenta-relay");
	/* a stuck lock, or a relay stopped mid-batch holding its claimed rows,
	 * must not hold the outbox for ever: the others skip locked rows; and
	 * every connection, however it came (db_conn also replaces one the
	 * server closed while it sat idle), listens */
	db_on_connect(&r.db, "SET statement_timeout = '30s'; "
			     "SET idle_in_transaction_session_timeout = '60s'; "
			     "LISTEN magenta_outbox");
	mq_init(&r.mq, "magenta-relay");
	daemon_metrics_init(DAEMON_METRICS_RELAY, "relay");
	if (metrics_listen_open(conf_str(CONF_RELAY_METRICS_LISTEN), daemon_metrics_render) != 0)
		return 1;
	backoff_init(&r.dbbo, 250, conf_int(CONF_RECONNECT_MAX_MS));
	log_info("event=start pid=%ld config=\"%s\" exchange=%s batch=%ld poll_ms=%ld "
		 "signing_kid=%s seal_kid=%s",
		 (long)getpid(), conf_path(), conf_str(CONF_EXCHANGE), conf_int(CONF_RELAY_BATCH),
		 conf_int(CONF_RELAY_POLL_MS), r.signer.kid, r.sealer.kid);
	relay_run(&r);
	metrics_listen_close();
	mq_close(&r.mq, 1);
	db_close(&r.db);
	log_info("event=stop pid=%ld published=%lu", (long)getpid(), r.published);
	eventsig_signer_release(&r.signer);
	daemon_cleanup();
	return 0;
}
