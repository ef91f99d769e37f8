/* mq: one RabbitMQ (AMQP 0-9-1) connection through librabbitmq 0.11, for the relay,
 * the consumer and magentactl.
 *
 * It connects with capped exponential backoff and jitter, negotiates
 * heartbeats (amqp_heartbeat), declares exchanges, queues and bindings
 * (Magenta's own are lib/topology.c's: this module knows AMQP, not users),
 * publishes with publisher confirms (librabbitmq has no confirm-wait call:
 * basic.ack, basic.nack and basic.return frames are read here), and
 * consumes with manual acknowledgements.  Everything happens on channel 1.
 * (The module is not called "amqp": librabbitmq owns <amqp.h> and amqp_*.)
 *
 * The broker is one node (amqp_host, amqp_port) or the nodes of a cluster
 * (amqp_hosts): a connection attempt tries each node once, starting after
 * the one that failed or dropped last, and only when all failed does the
 * backoff wait begin.  The caller re-declares and re-subscribes after
 * any reconnect, wherever it lands (mq_connect says nothing of which node).
 *
 * Any failure that leaves the connection unusable closes it: the caller
 * sees mq_connected() == 0 and calls mq_connect() again later.  An outage
 * is logged once when it starts and once when it ends, not per retry. */
#ifndef MAGENTA_MQ_H
#define MAGENTA_MQ_H

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

#include "backoff.h"

struct mq {
	amqp_connection_state_t conn; /* NULL while disconnected */
	char who[32];		      /* connection_name shown by the broker */
	int was_down;		      /* an outage was logged: log the recovery */
	int quiet;		      /* magentactl: no reconnect logging */
	struct backoff bo;
	uint64_t next_tag; /* delivery tag of the next publish in confirm mode */
	int confirm;	   /* confirm.select done on this connection */
	int consuming;	   /* basic.consume done on this connection */
	int blocked;	   /* the broker sent connection.blocked */
	int refused;	   /* a declaration was refused (mq_refused) and not yet accepted */
	int connecting;	   /* inside mq_connect: failures are counted there, once */
	int next_host;	   /* index of the node mq_connect tries first */
	unsigned host_down; /* nodes found down since the last connection (logged) */
	char host[256];	   /* the node of the live connection (or the last tried) */
	int port;
	char last[300];	   /* "host:port" of the last connection made, for failover logs */
	char err[256];	   /* the last failure, for callers that report it */
	unsigned long connects; /* connections made since mq_init (daemon metrics) */
};

/* The broker refused a declaration or basic.consume at channel level
 * (exchange of another type, no configure permission, ...; mq->err says
 * which) and the connection stays up: logged once until mq_accepted, and
 * paced like a reconnect (the caller waits for backoff_due(&mq->bo)
 * before declaring again), never retried in a loop. */
void mq_refused(struct mq *mq);

/* The declarations went through: ends a refusal (logged) and its backoff. */
void mq_accepted(struct mq *mq);

/* Prepare a disconnected handle; who names the connection. */
void mq_init(struct mq *mq, const char *who);

/* Connect, log in and open channel 1 unless already connected, to the
 * first node of amqp_hosts (or amqp_host:amqp_port) that answers, starting
 * after the one that last failed.  While a backoff wait from an earlier
 * failure runs, returns -1 at once without trying.  0 when connected. */
int mq_connect(struct mq *mq);

/* 1 when connected. */
int mq_connected(const struct mq *mq);

/* The socket of a live connection (for poll), or -1. */
int mq_fd(const struct mq *mq);

/* Close: with graceful set, channel.close and connection.close are sent
 * first (SIGTERM); otherwise the socket is dropped. */
void mq_close(struct mq *mq, int graceful);

/* ---- declarations (mq_declare.c; what Magenta declares: topology.h) ---- */

/* A durable exchange of type ("topic", "fanout"). 0 / -1. */
int mq_declare_exchange_as(struct mq *mq, const char *name, const char *type);

/* Queue arguments (x-queue-type, x-dead-letter-exchange, ...). */
amqp_table_entry_t mq_arg_str(const char *key, const char *value);
amqp_table_entry_t mq_arg_i64(const char *key, int64_t value);

/* A durable queue with nargs arguments.  A queue that already exists with
 * other arguments (406) is used as it is, after a passive declare, with one
 * warning.  0 / -1. */
int mq_declare_queue(struct mq *mq, const char *name, amqp_table_entry_t *args, int nargs);

/* Passive declare: message and consumer counts of queue.  0 found, 1 the
 * queue does not exist, -1 connection failure. */
int mq_queue_stat(struct mq *mq, const char *queue, uint32_t *messages, uint32_t *consumers);

/* Bind or unbind queue to exchange with key (tests and tools). 0 / -1. */
int mq_bind(struct mq *mq, const char *queue, const char *exchange, const char *key, int bind);

/* ---- publishing (mq_publish.c) ---- */

enum mq_outcome { MQ_PENDING, MQ_ACKED, MQ_NACKED, MQ_RETURNED };

/* One message to publish.  The strings are the caller's; mq_publish_confirmed
 * fills tag, outcome and reason. */
struct mq_out {
	const char *routing_key;
	const char *message_id; /* also identifies a basic.return */
	const char *type;
	const char *body;
	size_t body_len;
	uint64_t timestamp; /* seconds since the epoch; 0: none */
	const char *sig;     /* headers x-magenta-signature and x-magenta-key-id */
	const char *sig_kid; /* (eventsig.h); NULL: not sent */
	const char *request_id; /* correlation_id and header x-request-id; NULL: none */
	uint64_t tag;
	enum mq_outcome outcome;
	char reason[96]; /* why NACKED or RETURNED */
};

/* Publish n messages to exchange: persistent, mandatory, JSON, with
 * message_id, type, timestamp, app_id, the signature headers and the
 * request id (correlation_id and x-request-id, when given); then read the broker's verdicts
 * until each message is acked, nacked or returned, or timeout_ms passes.
 * A returned message is also acked by the broker: it stays MQ_RETURNED.
 * Returns 0 when every message has a verdict; -1 on a connection failure
 * or time-out (the connection is closed; MQ_PENDING messages have an
 * unknown fate and must be published again). */
int mq_publish_confirmed(struct mq *mq, const char *exchange, const char *app_id,
			 struct mq_out *msgs, size_t n, int timeout_ms);

/* ---- consuming (mq_consume.c) ---- */

/* A message received by mq_next or mq_get.  body is malloc'ed and owned by
 * the struct: release with mq_msg_release(). */
struct mq_msg {
	uint64_t tag;
	int redelivered;
	char *body;
	size_t len;
	char message_id[128];
	char type[64];
	char routing_key[256];
	char exchange[256];
	uint64_t timestamp;
	/* headers x-magenta-signature and x-magenta-key-id (eventsig.h); ""
	 * when absent, "!" when not a string that fits */
	char sig[128];
	char sig_kid[64];
	/* the correlation_id property, else the x-request-id header: "" when
	 * absent, "!" when not a string that fits; unchecked (the sender's
	 * label, not signed: log_request_id_ok before use) */
	char request_id[129];
	/* from the broker's x-death / x-first-death-* headers, when dead-lettered */
	char death_reason[32];
	char death_queue[256];
	long death_count;
	uint64_t death_time;
};

/* Free what m holds and clear it. */
void mq_msg_release(struct mq_msg *m);

/* basic.qos prefetch, then basic.consume on queue with manual acks. 0 / -1. */
int mq_consume(struct mq *mq, const char *queue, int prefetch);

/* Wait up to timeout_ms for the next delivery while serving heartbeats.
 * 1: m filled (release it); 0: nothing arrived; -1: connection lost (or
 * the broker cancelled the consumer: connection closed to start over). */
int mq_next(struct mq *mq, struct mq_msg *m, int timeout_ms);

/* basic.get one message from queue without auto-ack. 1 got, 0 empty,
 * -1 failure. */
int mq_get(struct mq *mq, const char *queue, struct mq_msg *m);

/* Serve the connection for up to timeout_ms without expecting anything:
 * heartbeats in both directions, broker-initiated closes. 0 / -1 (lost). */
int mq_service(struct mq *mq, int timeout_ms);

/* basic.ack (multiple: every tag up to this one). 0 / -1. */
int mq_ack(struct mq *mq, uint64_t tag, int multiple);

/* basic.reject; without requeue the broker dead-letters the message. */
int mq_reject(struct mq *mq, uint64_t tag, int requeue);

/* basic.nack of one message with requeue: counts against the delivery
 * limit of a quorum queue. */
int mq_nack_requeue(struct mq *mq, uint64_t tag);

#endif
