/* mq: RabbitMQ connection, topology, confirmed publishing, consuming. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "mq.h"
#include "conf.h"
#include "log.h"

#define MQ_CH 1
#define MQ_FRAME_MAX 131072
#define MQ_RPC_TIMEOUT_S 10

/* Names of the routing keys the consumer's queue is bound with. */
static const char *const mq_keys[] = { "user.created", "user.updated", "user.deleted" };

/* Prepare a disconnected handle. */
void mq_init(struct mq *mq, const char *who)
{
	memset(mq, 0, sizeof(*mq));
	snprintf(mq->who, sizeof(mq->who), "%s", who);
	backoff_init(&mq->bo, 250, conf_int(CONF_RECONNECT_MAX_MS));
}

/* Is the connection up? */
int mq_connected(const struct mq *mq)
{
	return mq->conn != NULL;
}

/* The socket descriptor, for poll(). */
int mq_fd(const struct mq *mq)
{
	return mq->conn ? amqp_get_sockfd(mq->conn) : -1;
}

static void mq_fail(struct mq *mq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record a failure: log the outage once, close, start the backoff. */
static void mq_fail(struct mq *mq, const char *fmt, ...)
{
	char q[240];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mq->err, sizeof(mq->err), fmt, ap);
	va_end(ap);
	if (!mq->was_down && !mq->quiet)
		log_error("event=amqp_down host=%s port=%ld err=%s", conf_str(CONF_AMQP_HOST),
			  conf_int(CONF_AMQP_PORT), log_q(q, sizeof(q), mq->err));
	mq->was_down = 1;
	if (mq->conn)
		amqp_destroy_connection(mq->conn);
	mq->conn = NULL;
	mq->confirm = mq->consuming = mq->blocked = 0;
	backoff_fail(&mq->bo);
}

/* Describe a failed RPC reply in buf. */
static const char *mq_reply_text(amqp_rpc_reply_t r, char *buf, size_t n)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(buf, n, "ok");
		break;
	case AMQP_RESPONSE_NONE:
		snprintf(buf, n, "no reply from the broker");
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(buf, n, "%s", amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *c = r.reply.decoded;
			snprintf(buf, n, "connection closed by the broker: %u %.*s", c->reply_code,
				 (int)c->reply_text.len, (char *)c->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *c = r.reply.decoded;
			snprintf(buf, n, "channel closed by the broker: %u %.*s", c->reply_code,
				 (int)c->reply_text.len, (char *)c->reply_text.bytes);
		} else {
			snprintf(buf, n, "unexpected method 0x%08x", r.reply.id);
		}
		break;
	}
	return buf;
}

/* After the broker closed channel 1: confirm and open it again, so the
 * connection stays usable.  0, or -1 with the connection dropped. */
static int mq_reopen_channel(struct mq *mq)
{
	amqp_channel_close_ok_t ok = { 0 };
	char buf[200];

	mq->confirm = mq->consuming = 0;
	if (amqp_send_method(mq->conn, MQ_CH, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) < 0) {
		mq_fail(mq, "cannot acknowledge the channel close");
		return -1;
	}
	amqp_maybe_release_buffers_on_channel(mq->conn, MQ_CH);
	amqp_channel_open(mq->conn, MQ_CH);
	if (amqp_get_rpc_reply(mq->conn).reply_type != AMQP_RESPONSE_NORMAL) {
		mq_fail(mq, "reopen channel: %s",
			mq_reply_text(amqp_get_rpc_reply(mq->conn), buf, sizeof(buf)));
		return -1;
	}
	return 0;
}

/* Check the last RPC.  0 ok; a channel-level refusal returns its reply
 * code (404, 406, ...) with the channel reopened; anything else drops the
 * connection and returns -1.  what names the operation for the error. */
static int mq_rpc_check(struct mq *mq, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(mq->conn);
	char buf[200];

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	mq_reply_text(r, buf, sizeof(buf));
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		int code = ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
		snprintf(mq->err, sizeof(mq->err), "%s: %s", what, buf);
		if (mq_reopen_channel(mq) != 0)
			return -1;
		return code;
	}
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_ok_t ok = { 0 };
		amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	}
	mq_fail(mq, "%s: %s", what, buf);
	return -1;
}

/* Connect, log in, open the channel. */
int mq_connect(struct mq *mq)
{
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	struct timeval tv = { conf_int(CONF_PG_CONNECT_TIMEOUT), 0 };
	struct timeval rpc = { MQ_RPC_TIMEOUT_S, 0 };
	amqp_table_entry_t caps[3], props[2];
	amqp_table_t props_table;
	char buf[200];
	int rc;

	if (mq->conn)
		return 0;
	if (!backoff_due(&mq->bo))
		return -1;
	mq->conn = amqp_new_connection();
	if (!mq->conn) {
		mq_fail(mq, "out of memory");
		return -1;
	}
	if (conf_bool(CONF_AMQP_TLS)) {
		sock = amqp_ssl_socket_new(mq->conn);
		if (!sock) {
			mq_fail(mq, "cannot create a TLS socket");
			return -1;
		}
		amqp_ssl_socket_set_verify_peer(sock, 1);
		amqp_ssl_socket_set_verify_hostname(sock, 1);
		rc = amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST);
		if (rc == AMQP_STATUS_OK)
			rc = amqp_ssl_socket_set_cacert(sock, conf_str(CONF_AMQP_CACERT));
		if (rc != AMQP_STATUS_OK) {
			mq_fail(mq, "tls: %s (amqp_cacert %s)", amqp_error_string2(rc),
				conf_str(CONF_AMQP_CACERT));
			return -1;
		}
		if (*conf_str(CONF_AMQP_CERT)) {
			rc = amqp_ssl_socket_set_key(sock, conf_str(CONF_AMQP_CERT),
						     conf_str(CONF_AMQP_KEY));
			if (rc != AMQP_STATUS_OK) {
				mq_fail(mq, "tls: %s (amqp_cert %s, amqp_key %s)",
					amqp_error_string2(rc), conf_str(CONF_AMQP_CERT),
					conf_str(CONF_AMQP_KEY));
				return -1;
			}
		}
	} else {
		sock = amqp_tcp_socket_new(mq->conn);
		if (!sock) {
			mq_fail(mq, "cannot create a socket");
			return -1;
		}
	}
	rc = amqp_socket_open_noblock(sock, conf_str(CONF_AMQP_HOST), (int)conf_int(CONF_AMQP_PORT),
				      &tv);
	if (rc != AMQP_STATUS_OK) {
		mq_fail(mq, "connect: %s", amqp_error_string2(rc));
		return -1;
	}
	amqp_set_handshake_timeout(mq->conn, &rpc);
	amqp_set_rpc_timeout(mq->conn, &rpc);

	/* ask for connection.blocked and basic.cancel notifications */
	caps[0].key = amqp_cstring_bytes("connection.blocked");
	caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
	caps[0].value.value.boolean = 1;
	caps[1].key = amqp_cstring_bytes("consumer_cancel_notify");
	caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
	caps[1].value.value.boolean = 1;
	caps[2].key = amqp_cstring_bytes("publisher_confirms");
	caps[2].value.kind = AMQP_FIELD_KIND_BOOLEAN;
	caps[2].value.value.boolean = 1;
	props[0].key = amqp_cstring_bytes("connection_name");
	props[0].value.kind = AMQP_FIELD_KIND_UTF8;
	props[0].value.value.bytes = amqp_cstring_bytes(mq->who);
	props[1].key = amqp_cstring_bytes("capabilities");
	props[1].value.kind = AMQP_FIELD_KIND_TABLE;
	props[1].value.value.table.num_entries = 3;
	props[1].value.value.table.entries = caps;
	props_table.num_entries = 2;
	props_table.entries = props;

	r = amqp_login_with_properties(mq->conn, conf_str(CONF_AMQP_VHOST), 0, MQ_FRAME_MAX,
				       (int)conf_int(CONF_AMQP_HEARTBEAT), &props_table,
				       AMQP_SASL_METHOD_PLAIN, conf_str(CONF_AMQP_USER),
				       conf_str(CONF_AMQP_PASSWORD));
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_fail(mq, "login: %s", mq_reply_text(r, buf, sizeof(buf)));
		return -1;
	}
	amqp_channel_open(mq->conn, MQ_CH);
	if (mq_rpc_check(mq, "channel.open") != 0) {
		if (mq->conn)
			mq_fail(mq, "channel.open refused");
		return -1;
	}
	backoff_reset(&mq->bo);
	mq->next_tag = 1;
	if (!mq->quiet) {
		if (mq->was_down)
			log_info("event=amqp_up host=%s port=%ld", conf_str(CONF_AMQP_HOST),
				 conf_int(CONF_AMQP_PORT));
		else
			log_info("event=amqp_connected host=%s port=%ld heartbeat=%d",
				 conf_str(CONF_AMQP_HOST), conf_int(CONF_AMQP_PORT),
				 amqp_get_heartbeat(mq->conn));
	}
	mq->was_down = 0;
	return 0;
}

/* Close the connection, politely when asked. */
void mq_close(struct mq *mq, int graceful)
{
	if (!mq->conn)
		return;
	if (graceful) {
		amqp_channel_close(mq->conn, MQ_CH, AMQP_REPLY_SUCCESS);
		amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(mq->conn);
	mq->conn = NULL;
	mq->confirm = mq->consuming = mq->blocked = 0;
}

/* exchange + ".dlx" */
void mq_dlx_name(char *out, size_t n)
{
	snprintf(out, n, "%s.dlx", conf_str(CONF_EXCHANGE));
}

/* queue + ".dlq" */
void mq_dlq_name(char *out, size_t n)
{
	snprintf(out, n, "%s.dlq", conf_str(CONF_QUEUE));
}

void mq_refused(struct mq *mq)
{
	char q[300];

	if (!mq->refused && !mq->quiet)
		log_error("event=amqp_refused who=%s err=%s", mq->who, log_q(q, sizeof(q), mq->err));
	mq->refused = 1;
	backoff_fail(&mq->bo);
}

void mq_accepted(struct mq *mq)
{
	if (mq->refused && !mq->quiet)
		log_info("event=amqp_accepted who=%s", mq->who);
	mq->refused = 0;
	backoff_reset(&mq->bo);
}

/* Declare one durable exchange of the given type. */
static int mq_exchange(struct mq *mq, const char *name, const char *type)
{
	amqp_exchange_declare(mq->conn, MQ_CH, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
			      0, 1, 0, 0, amqp_empty_table);
	return mq_rpc_check(mq, "exchange.declare") == 0 ? 0 : -1;
}

/* Declare the events exchange. */
int mq_declare_exchange(struct mq *mq)
{
	if (mq_connect(mq) != 0)
		return -1;
	return mq_exchange(mq, conf_str(CONF_EXCHANGE), "topic");
}

/* A string table entry. */
static amqp_table_entry_t mq_str_entry(const char *key, const char *value)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_UTF8;
	e.value.value.bytes = amqp_cstring_bytes(value);
	return e;
}

/* Declare a durable queue with arguments; on 406 (it exists with other
 * arguments) fall back to a passive declare and warn.  0 / -1. */
static int mq_queue(struct mq *mq, const char *name, amqp_table_entry_t *args, int nargs)
{
	amqp_table_t t = { nargs, args };
	char q[240];
	int rc;

	amqp_queue_declare(mq->conn, MQ_CH, amqp_cstring_bytes(name), 0, 1, 0, 0, t);
	rc = mq_rpc_check(mq, "queue.declare");
	if (rc == 0)
		return 0;
	if (rc != AMQP_PRECONDITION_FAILED)
		return -1;
	log_warnx("event=queue_arguments_differ queue=%s err=%s hint=\"the queue exists with other "
		  "arguments: it is used as it is; see docs/events.md (dead-lettering policy)\"",
		  name, log_q(q, sizeof(q), mq->err));
	amqp_queue_declare(mq->conn, MQ_CH, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table);
	return mq_rpc_check(mq, "queue.declare passive") == 0 ? 0 : -1;
}

/* Bind (or unbind) a queue. */
int mq_bind(struct mq *mq, const char *queue, const char *exchange, const char *key, int bind)
{
	if (mq_connect(mq) != 0)
		return -1;
	if (bind)
		amqp_queue_bind(mq->conn, MQ_CH, amqp_cstring_bytes(queue),
				amqp_cstring_bytes(exchange), amqp_cstring_bytes(key),
				amqp_empty_table);
	else
		amqp_queue_unbind(mq->conn, MQ_CH, amqp_cstring_bytes(queue),
				  amqp_cstring_bytes(exchange), amqp_cstring_bytes(key),
				  amqp_empty_table);
	return mq_rpc_check(mq, bind ? "queue.bind" : "queue.unbind") == 0 ? 0 : -1;
}

/* Exchange, dead-letter exchange and queue, the queue and its bindings. */
int mq_declare_topology(struct mq *mq)
{
	char dlx[300], dlq[300];
	int quorum = strcmp(conf_str(CONF_QUEUE_TYPE), "quorum") == 0;
	amqp_table_entry_t args[5];
	int n = 0;

	if (mq_connect(mq) != 0)
		return -1;
	mq_dlx_name(dlx, sizeof(dlx));
	mq_dlq_name(dlq, sizeof(dlq));
	if (mq_exchange(mq, conf_str(CONF_EXCHANGE), "topic") != 0 ||
	    mq_exchange(mq, dlx, "fanout") != 0)
		return -1;

	/* the dead-letter queue: same type as the main queue, no limit */
	if (quorum)
		args[n++] = mq_str_entry("x-queue-type", "quorum");
	if (mq_queue(mq, dlq, args, n) != 0 || mq_bind(mq, dlq, dlx, "", 1) != 0)
		return -1;

	n = 0;
	args[n++] = mq_str_entry("x-dead-letter-exchange", dlx);
	if (quorum) {
		args[n++] = mq_str_entry("x-queue-type", "quorum");
		args[n].key = amqp_cstring_bytes("x-delivery-limit");
		args[n].value.kind = AMQP_FIELD_KIND_I64;
		args[n++].value.value.i64 = conf_int(CONF_DELIVERY_LIMIT);
		/* quorum queues dead-letter at most once unless told otherwise:
		 * at-least-once keeps a message in the source queue until the
		 * dead-letter queue has confirmed it, and needs reject-publish */
		args[n++] = mq_str_entry("x-dead-letter-strategy", "at-least-once");
		args[n++] = mq_str_entry("x-overflow", "reject-publish");
	}
	if (mq_queue(mq, conf_str(CONF_QUEUE), args, n) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(mq_keys) / sizeof(mq_keys[0]); i++)
		if (mq_bind(mq, conf_str(CONF_QUEUE), conf_str(CONF_EXCHANGE), mq_keys[i], 1) != 0)
			return -1;
	return 0;
}

/* Passive declare for counts. */
int mq_queue_stat(struct mq *mq, const char *queue, uint32_t *messages, uint32_t *consumers)
{
	amqp_queue_declare_ok_t *ok;
	int rc;

	if (mq_connect(mq) != 0)
		return -1;
	ok = amqp_queue_declare(mq->conn, MQ_CH, amqp_cstring_bytes(queue), 1, 0, 0, 0,
				amqp_empty_table);
	rc = mq_rpc_check(mq, "queue.declare passive");
	if (rc == AMQP_NOT_FOUND)
		return 1;
	if (rc != 0 || !ok)
		return -1;
	*messages = ok->message_count;
	*consumers = ok->consumer_count;
	return 0;
}

/* The text of a table entry holding a string, or "". */
static void mq_entry_str(const amqp_field_value_t *v, char *out, size_t n)
{
	if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)
		snprintf(out, n, "%.*s", (int)v->value.bytes.len,
			 (const char *)v->value.bytes.bytes);
	else
		out[0] = '\0';
}

/* The entry of t named key, or NULL. */
static const amqp_field_value_t *mq_table_get(const amqp_table_t *t, const char *key)
{
	size_t klen = strlen(key);

	for (int i = 0; i < t->num_entries; i++)
		if (t->entries[i].key.len == klen &&
		    memcmp(t->entries[i].key.bytes, key, klen) == 0)
			return &t->entries[i].value;
	return NULL;
}

/* An integer of any width as a long. */
static long mq_entry_long(const amqp_field_value_t *v)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_I8: return v->value.i8;
	case AMQP_FIELD_KIND_U8: return v->value.u8;
	case AMQP_FIELD_KIND_I16: return v->value.i16;
	case AMQP_FIELD_KIND_U16: return v->value.u16;
	case AMQP_FIELD_KIND_I32: return v->value.i32;
	case AMQP_FIELD_KIND_U32: return (long)v->value.u32;
	case AMQP_FIELD_KIND_I64: return (long)v->value.i64;
	case AMQP_FIELD_KIND_U64: return (long)v->value.u64;
	default: return 0;
	}
}

/* The string header key of t into out: "" when absent, "!" when it is
 * not a string or does not fit (so that it can never pass for another
 * value). */
static void mq_header_str(const amqp_table_t *t, const char *key, char *out, size_t n)
{
	const amqp_field_value_t *v = mq_table_get(t, key);

	out[0] = '\0';
	if (!v)
		return;
	if ((v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES) ||
	    v->value.bytes.len >= n || memchr(v->value.bytes.bytes, '\0', v->value.bytes.len)) {
		snprintf(out, n, "!");
		return;
	}
	memcpy(out, v->value.bytes.bytes, v->value.bytes.len);
	out[v->value.bytes.len] = '\0';
}

/* Copy what we need out of a message (properties and body). */
static int mq_fill(struct mq_msg *m, amqp_message_t *msg)
{
	const amqp_basic_properties_t *p = &msg->properties;

	m->body = malloc(msg->body.len + 1);
	if (!m->body)
		return -1;
	/* an empty body comes as { 0, NULL }: memcpy from NULL is undefined
	 * even for 0 bytes (UBSan aborted the consumer on it) */
	if (msg->body.len > 0)
		memcpy(m->body, msg->body.bytes, msg->body.len);
	m->body[msg->body.len] = '\0';
	m->len = msg->body.len;
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		snprintf(m->message_id, sizeof(m->message_id), "%.*s", (int)p->message_id.len,
			 (const char *)p->message_id.bytes);
	if (p->_flags & AMQP_BASIC_TYPE_FLAG)
		snprintf(m->type, sizeof(m->type), "%.*s", (int)p->type.len,
			 (const char *)p->type.bytes);
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		m->timestamp = p->timestamp;
	if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
		const amqp_field_value_t *v = mq_table_get(&p->headers, "x-death");

		mq_header_str(&p->headers, "x-magenta-signature", m->sig, sizeof(m->sig));
		mq_header_str(&p->headers, "x-magenta-key-id", m->sig_kid, sizeof(m->sig_kid));

		if (v && v->kind == AMQP_FIELD_KIND_ARRAY && v->value.array.num_entries > 0 &&
		    v->value.array.entries[0].kind == AMQP_FIELD_KIND_TABLE) {
			/* the most recent death comes first */
			const amqp_table_t *d = &v->value.array.entries[0].value.table;
			const amqp_field_value_t *f;

			if ((f = mq_table_get(d, "reason")))
				mq_entry_str(f, m->death_reason, sizeof(m->death_reason));
			if ((f = mq_table_get(d, "queue")))
				mq_entry_str(f, m->death_queue, sizeof(m->death_queue));
			if ((f = mq_table_get(d, "count")))
				m->death_count = mq_entry_long(f);
			if ((f = mq_table_get(d, "time")) && f->kind == AMQP_FIELD_KIND_TIMESTAMP)
				m->death_time = f->value.u64;
		}
	}
	return 0;
}

/* Free the body, clear the rest. */
void mq_msg_release(struct mq_msg *m)
{
	free(m->body);
	memset(m, 0, sizeof(*m));
}

/* React to a frame nobody asked for.  0 to go on; -1 when the connection
 * was closed (by the broker, or because the consumer was cancelled). */
static int mq_async_frame(struct mq *mq, const amqp_frame_t *f)
{
	char buf[200];

	if (f->frame_type != AMQP_FRAME_METHOD)
		return 0; /* stray content frames: nothing to do */
	switch (f->payload.method.id) {
	case AMQP_CHANNEL_CLOSE_METHOD: {
		amqp_channel_close_t *c = f->payload.method.decoded;
		snprintf(buf, sizeof(buf), "channel closed by the broker: %u %.*s", c->reply_code,
			 (int)c->reply_text.len, (char *)c->reply_text.bytes);
		mq_fail(mq, "%s", buf);
		return -1;
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		amqp_connection_close_t *c = f->payload.method.decoded;
		amqp_connection_close_ok_t ok = { 0 };
		snprintf(buf, sizeof(buf), "connection closed by the broker: %u %.*s",
			 c->reply_code, (int)c->reply_text.len, (char *)c->reply_text.bytes);
		amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		mq_fail(mq, "%s", buf);
		return -1;
	}
	case AMQP_BASIC_CANCEL_METHOD:
		mq_fail(mq, "the broker cancelled the consumer (queue deleted?)");
		return -1;
	case AMQP_CONNECTION_BLOCKED_METHOD:
		if (!mq->blocked)
			log_warnx("event=amqp_blocked msg=\"the broker stopped accepting publishes "
				  "(resource alarm)\"");
		mq->blocked = 1;
		return 0;
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		if (mq->blocked)
			log_info("event=amqp_unblocked");
		mq->blocked = 0;
		return 0;
	default:
		return 0;
	}
}

/* A timeval for ms milliseconds. */
static struct timeval mq_tv(long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Serve heartbeats and broker notices for up to timeout_ms. */
int mq_service(struct mq *mq, int timeout_ms)
{
	amqp_frame_t f;
	uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	if (!mq->conn)
		return -1;
	for (;;) {
		uint64_t now = now_ms();
		struct timeval tv = mq_tv(now >= end ? 0 : (long)(end - now));
		int rc = amqp_simple_wait_frame_noblock(mq->conn, &f, &tv);

		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			mq_fail(mq, "%s", amqp_error_string2(rc));
			return -1;
		}
		if (mq_async_frame(mq, &f) != 0)
			return -1;
		if (now_ms() >= end && !amqp_frames_enqueued(mq->conn) &&
		    !amqp_data_in_buffer(mq->conn))
			break;
	}
	if (!amqp_frames_enqueued(mq->conn))
		amqp_maybe_release_buffers(mq->conn);
	return 0;
}

/* Find the message of a basic.return by its message_id. */
static struct mq_out *mq_find_out(struct mq_out *msgs, size_t n, amqp_bytes_t id)
{
	for (size_t i = 0; i < n; i++)
		if (msgs[i].outcome == MQ_PENDING && strlen(msgs[i].message_id) == id.len &&
		    memcmp(msgs[i].message_id, id.bytes, id.len) == 0)
			return &msgs[i];
	return NULL;
}

/* Apply an ack or nack covering tag (and, with multiple, everything
 * before) to msgs[] whose tags run from first; returns how many settled. */
static size_t mq_settle(struct mq_out *msgs, size_t n, unsigned char *done, uint64_t first,
			uint64_t tag, int multiple, enum mq_outcome outcome, const char *reason)
{
	size_t settled = 0;
	uint64_t lo = multiple ? first : tag;

	if (tag < first)
		return 0;
	for (uint64_t t = lo; t <= tag && t - first < n; t++) {
		size_t i = (size_t)(t - first);
		if (done[i])
			continue;
		done[i] = 1;
		settled++;
		if (msgs[i].outcome == MQ_PENDING) {
			msgs[i].outcome = outcome;
			if (reason)
				snprintf(msgs[i].reason, sizeof(msgs[i].reason), "%s", reason);
		}
	}
	return settled;
}

/* Publish and collect confirms, returns and nacks. */
int mq_publish_confirmed(struct mq *mq, const char *exchange, const char *app_id,
			 struct mq_out *msgs, size_t n, int timeout_ms)
{
	amqp_basic_properties_t props;
	amqp_table_entry_t hdr[2];
	unsigned char *done = NULL;
	uint64_t first, deadline;
	size_t pending = n;
	int rc = -1;

	if (mq_connect(mq) != 0)
		return -1;
	if (!mq->confirm) {
		amqp_confirm_select(mq->conn, MQ_CH);
		if (mq_rpc_check(mq, "confirm.select") != 0) {
			if (mq->conn)
				mq_fail(mq, "confirm.select refused");
			return -1;
		}
		mq->confirm = 1;
		mq->next_tag = 1;
	}
	done = calloc(n ? n : 1, 1);
	if (!done)
		return -1;
	first = mq->next_tag;
	for (size_t i = 0; i < n; i++) {
		int st;

		memset(&props, 0, sizeof(props));
		props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
			       AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG |
			       AMQP_BASIC_APP_ID_FLAG;
		props.content_type = amqp_cstring_bytes("application/json");
		props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
		props.message_id = amqp_cstring_bytes(msgs[i].message_id);
		props.type = amqp_cstring_bytes(msgs[i].type);
		props.app_id = amqp_cstring_bytes(app_id);
		if (msgs[i].timestamp) {
			props._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
			props.timestamp = msgs[i].timestamp;
		}
		if (msgs[i].sig && msgs[i].sig_kid) {
			hdr[0].key = amqp_cstring_bytes("x-magenta-signature");
			hdr[0].value.kind = AMQP_FIELD_KIND_UTF8;
			hdr[0].value.value.bytes = amqp_cstring_bytes(msgs[i].sig);
			hdr[1].key = amqp_cstring_bytes("x-magenta-key-id");
			hdr[1].value.kind = AMQP_FIELD_KIND_UTF8;
			hdr[1].value.value.bytes = amqp_cstring_bytes(msgs[i].sig_kid);
			props._flags |= AMQP_BASIC_HEADERS_FLAG;
			props.headers.num_entries = 2;
			props.headers.entries = hdr;
		}
		msgs[i].outcome = MQ_PENDING;
		msgs[i].reason[0] = '\0';
		msgs[i].tag = mq->next_tag++;
		st = amqp_basic_publish(mq->conn, MQ_CH, amqp_cstring_bytes(exchange),
					amqp_cstring_bytes(msgs[i].routing_key), 1, 0, &props,
					(amqp_bytes_t){ msgs[i].body_len, (void *)msgs[i].body });
		if (st != AMQP_STATUS_OK) {
			mq_fail(mq, "publish: %s", amqp_error_string2(st));
			goto out;
		}
	}

	deadline = now_ms() + (uint64_t)timeout_ms;
	while (pending > 0) {
		amqp_frame_t f;
		uint64_t now = now_ms();
		struct timeval tv;
		int st;

		if (now >= deadline) {
			mq_fail(mq, "no confirm within %d ms for %zu of %zu messages", timeout_ms,
				pending, n);
			goto out;
		}
		tv = mq_tv((long)(deadline - now));
		st = amqp_simple_wait_frame_noblock(mq->conn, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK) {
			mq_fail(mq, "waiting for confirms: %s", amqp_error_string2(st));
			goto out;
		}
		if (f.frame_type != AMQP_FRAME_METHOD || f.channel != MQ_CH) {
			if (mq_async_frame(mq, &f) != 0)
				goto out;
			continue;
		}
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			amqp_basic_ack_t *a = f.payload.method.decoded;
			pending -= mq_settle(msgs, n, done, first, a->delivery_tag, a->multiple,
					     MQ_ACKED, NULL);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			amqp_basic_nack_t *a = f.payload.method.decoded;
			pending -= mq_settle(msgs, n, done, first, a->delivery_tag, a->multiple,
					     MQ_NACKED, "nacked by the broker");
			break;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			/* sent before the ack of the same message; the content
			 * follows, and its message_id says which one it was */
			amqp_basic_return_t *r = f.payload.method.decoded;
			char reason[96];
			amqp_message_t msg;
			amqp_rpc_reply_t rr;
			struct mq_out *o;

			snprintf(reason, sizeof(reason), "returned: %u %.*s", r->reply_code,
				 (int)r->reply_text.len, (char *)r->reply_text.bytes);
			rr = amqp_read_message(mq->conn, MQ_CH, &msg, 0);
			if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
				mq_fail(mq, "reading a returned message failed");
				goto out;
			}
			if ((msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) &&
			    (o = mq_find_out(msgs, n, msg.properties.message_id))) {
				o->outcome = MQ_RETURNED;
				snprintf(o->reason, sizeof(o->reason), "%s", reason);
			}
			amqp_destroy_message(&msg);
			break;
		}
		default:
			if (mq_async_frame(mq, &f) != 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(done);
	if (mq->conn && !amqp_frames_enqueued(mq->conn))
		amqp_maybe_release_buffers(mq->conn);
	return rc;
}

/* qos + consume. */
int mq_consume(struct mq *mq, const char *queue, int prefetch)
{
	if (mq_connect(mq) != 0)
		return -1;
	amqp_basic_qos(mq->conn, MQ_CH, 0, (uint16_t)prefetch, 0);
	if (mq_rpc_check(mq, "basic.qos") != 0)
		goto fail;
	amqp_basic_consume(mq->conn, MQ_CH, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	if (mq_rpc_check(mq, "basic.consume") != 0)
		goto fail;
	mq->consuming = 1;
	return 0;
fail:
	/* a refused consume (queue missing) leaves the connection open but
	 * useless to us: start over after a backoff */
	if (mq->conn) {
		char why[sizeof(mq->err)];
		snprintf(why, sizeof(why), "%s", mq->err);
		mq_fail(mq, "%s", why);
	}
	return -1;
}

/* Read the content of a delivery or get-ok into m. */
static int mq_read_into(struct mq *mq, struct mq_msg *m)
{
	amqp_message_t msg;
	amqp_rpc_reply_t rr = amqp_read_message(mq->conn, MQ_CH, &msg, 0);
	char buf[200];
	int rc;

	if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_fail(mq, "reading a message: %s", mq_reply_text(rr, buf, sizeof(buf)));
		return -1;
	}
	rc = mq_fill(m, &msg);
	amqp_destroy_message(&msg);
	if (rc != 0)
		mq_fail(mq, "out of memory");
	return rc;
}

/* Next delivery, serving the connection meanwhile. */
int mq_next(struct mq *mq, struct mq_msg *m, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	memset(m, 0, sizeof(*m));
	if (!mq->conn)
		return -1;
	for (;;) {
		amqp_frame_t f;
		uint64_t now = now_ms();
		struct timeval tv = mq_tv(now >= end ? 0 : (long)(end - now));
		int rc;

		if (!amqp_frames_enqueued(mq->conn) && !amqp_data_in_buffer(mq->conn))
			amqp_maybe_release_buffers(mq->conn);
		rc = amqp_simple_wait_frame_noblock(mq->conn, &f, &tv);
		if (rc == AMQP_STATUS_TIMEOUT)
			return 0;
		if (rc != AMQP_STATUS_OK) {
			mq_fail(mq, "%s", amqp_error_string2(rc));
			return -1;
		}
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    f.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
			amqp_basic_deliver_t *d = f.payload.method.decoded;

			m->tag = d->delivery_tag;
			m->redelivered = d->redelivered;
			snprintf(m->routing_key, sizeof(m->routing_key), "%.*s",
				 (int)d->routing_key.len, (char *)d->routing_key.bytes);
			snprintf(m->exchange, sizeof(m->exchange), "%.*s", (int)d->exchange.len,
				 (char *)d->exchange.bytes);
			return mq_read_into(mq, m) == 0 ? 1 : -1;
		}
		if (mq_async_frame(mq, &f) != 0)
			return -1;
	}
}

/* basic.get without auto-ack. */
int mq_get(struct mq *mq, const char *queue, struct mq_msg *m)
{
	amqp_rpc_reply_t r;
	char buf[200];

	memset(m, 0, sizeof(*m));
	if (mq_connect(mq) != 0)
		return -1;
	amqp_maybe_release_buffers(mq->conn);
	r = amqp_basic_get(mq->conn, MQ_CH, amqp_cstring_bytes(queue), 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		mq_fail(mq, "basic.get: %s", mq_reply_text(r, buf, sizeof(buf)));
		return -1;
	}
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
		amqp_basic_get_ok_t *g = r.reply.decoded;

		m->tag = g->delivery_tag;
		m->redelivered = g->redelivered;
		snprintf(m->routing_key, sizeof(m->routing_key), "%.*s", (int)g->routing_key.len,
			 (char *)g->routing_key.bytes);
		snprintf(m->exchange, sizeof(m->exchange), "%.*s", (int)g->exchange.len,
			 (char *)g->exchange.bytes);
		return mq_read_into(mq, m) == 0 ? 1 : -1;
	}
	mq_fail(mq, "basic.get: unexpected reply 0x%08x", r.reply.id);
	return -1;
}

/* Send an acknowledgement-type method; a failed write drops the link. */
static int mq_sent(struct mq *mq, int st, const char *what)
{
	if (st == AMQP_STATUS_OK)
		return 0;
	mq_fail(mq, "%s: %s", what, amqp_error_string2(st));
	return -1;
}

/* basic.ack */
int mq_ack(struct mq *mq, uint64_t tag, int multiple)
{
	if (!mq->conn)
		return -1;
	return mq_sent(mq, amqp_basic_ack(mq->conn, MQ_CH, tag, multiple), "basic.ack");
}

/* basic.reject */
int mq_reject(struct mq *mq, uint64_t tag, int requeue)
{
	if (!mq->conn)
		return -1;
	return mq_sent(mq, amqp_basic_reject(mq->conn, MQ_CH, tag, requeue), "basic.reject");
}

/* basic.nack with requeue */
int mq_nack_requeue(struct mq *mq, uint64_t tag)
{
	if (!mq->conn)
		return -1;
	return mq_sent(mq, amqp_basic_nack(mq->conn, MQ_CH, tag, 0, 1), "basic.nack");
}
