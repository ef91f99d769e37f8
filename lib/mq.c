/* mq: the RabbitMQ connection (connect, TLS, login, channel, close,
 * failures and backoff) and serving it (heartbeats, broker notices).
 * Declarations are in mq_declare.c, publishing in mq_publish.c, consuming
 * in mq_consume.c. */
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
#include "mq_internal.h"
#include "clock.h"
#include "conf.h"
#include "hostlist.h"
#include "log.h"

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

/* Record a failure: close; outside mq_connect (which counts its own
 * failures) also log the outage once, move the next attempt on to the node
 * after the one that dropped, and start the backoff. */
void mq_fail(struct mq *mq, const char *fmt, ...)
{
	char q[240];
	va_list ap;
	int dropped = mq->conn != NULL && !mq->connecting;

	va_start(ap, fmt);
	vsnprintf(mq->err, sizeof(mq->err), fmt, ap);
	va_end(ap);
	if (mq->conn)
		amqp_destroy_connection(mq->conn);
	mq->conn = NULL;
	mq->confirm = mq->consuming = mq->blocked = 0;
	if (mq->connecting)
		return;
	if (!mq->was_down && !mq->quiet)
		log_error("event=amqp_down host=%s port=%d err=%s", mq->host, mq->port,
			  log_q(q, sizeof(q), mq->err));
	mq->was_down = 1;
	if (dropped)
		mq->next_host++; /* mq_connect takes it modulo the list */
	backoff_fail(&mq->bo);
}

/* Describe a failed RPC reply in buf. */
const char *mq_reply_text(amqp_rpc_reply_t r, char *buf, size_t n)
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
int mq_rpc_check(struct mq *mq, const char *what)
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

/* Connect to node h, log in, open the channel: 0, or -1 with mq->err
 * set and no connection (called inside mq_connect only).  With amqp_tls
 * the certificate is verified against h's own name. */
static int mq_open(struct mq *mq, const struct hostlist_entry *h)
{
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	struct timeval tv = { conf_int(CONF_PG_CONNECT_TIMEOUT), 0 };
	struct timeval rpc = { MQ_RPC_TIMEOUT_S, 0 };
	amqp_table_entry_t caps[3], props[2];
	amqp_table_t props_table;
	char buf[200];
	int rc;

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
	rc = amqp_socket_open_noblock(sock, h->host, h->port, &tv);
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
	return 0;
}

/* The nodes to try: amqp_hosts (validated at load), else amqp_host and
 * amqp_port.  Their number, at least 1. */
static int mq_hosts(struct hostlist_entry *h)
{
	char err[256];
	int n = hostlist_parse(conf_str(CONF_AMQP_HOSTS), h, HOSTLIST_MAX, err, sizeof(err));

	if (n > 0)
		return n;
	snprintf(h[0].host, sizeof(h[0].host), "%s", conf_str(CONF_AMQP_HOST));
	h[0].port = (int)conf_int(CONF_AMQP_PORT);
	return 1;
}

/* Try each node once, from mq->next_host on; log the node reached. */
int mq_connect(struct mq *mq)
{
	struct hostlist_entry hosts[HOSTLIST_MAX];
	char q[240];
	int n, start, k = 0;

	if (mq->conn)
		return 0;
	if (!backoff_due(&mq->bo))
		return -1;
	n = mq_hosts(hosts);
	start = mq->next_host % n;
	for (int i = 0; i < n; i++) {
		int rc;

		k = (start + i) % n;
		mq->connecting = 1;
		rc = mq_open(mq, &hosts[k]);
		mq->connecting = 0;
		snprintf(mq->host, sizeof(mq->host), "%s", hosts[k].host);
		mq->port = hosts[k].port;
		if (rc == 0)
			break;
		if (n > 1 && !mq->quiet && !(mq->host_down & (1u << k)))
			log_warnx("event=amqp_node_down host=%s port=%d err=%s msg=\"trying the next "
				  "node\"",
				  mq->host, mq->port, log_q(q, sizeof(q), mq->err));
		mq->host_down |= 1u << k;
	}
	if (!mq->conn) {
		/* every node failed: the next round starts one further on */
		if (!mq->was_down && !mq->quiet)
			log_error("event=amqp_down host=%s port=%d nodes=%d err=%s", mq->host,
				  mq->port, n, log_q(q, sizeof(q), mq->err));
		mq->was_down = 1;
		mq->next_host = (start + 1) % n;
		backoff_fail(&mq->bo);
		return -1;
	}
	mq->next_host = k;
	mq->host_down = 0;
	backoff_reset(&mq->bo);
	mq->next_tag = 1;
	if (!mq->quiet) {
		char now[300];

		snprintf(now, sizeof(now), "%s:%d", mq->host, mq->port);
		if (mq->was_down && mq->last[0] && strcmp(mq->last, now) != 0)
			log_warnx("event=amqp_failover from=%s to=%s", mq->last, now);
		if (mq->was_down)
			log_info("event=amqp_up host=%s port=%d", mq->host, mq->port);
		else
			log_info("event=amqp_connected host=%s port=%d heartbeat=%d", mq->host,
				 mq->port, amqp_get_heartbeat(mq->conn));
	}
	snprintf(mq->last, sizeof(mq->last), "%s:%d", mq->host, mq->port);
	mq->was_down = 0;
	mq->connects++;
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

/* React to a frame nobody asked for.  0 to go on; -1 when the connection
 * was closed (by the broker, or because the consumer was cancelled). */
int mq_async_frame(struct mq *mq, const amqp_frame_t *f)
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
struct timeval mq_tv(long ms)
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
	uint64_t end = clock_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	if (!mq->conn)
		return -1;
	for (;;) {
		uint64_t now = clock_mono_ms();
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
		if (clock_mono_ms() >= end && !amqp_frames_enqueued(mq->conn) &&
		    !amqp_data_in_buffer(mq->conn))
			break;
	}
	if (!amqp_frames_enqueued(mq->conn))
		amqp_maybe_release_buffers(mq->conn);
	return 0;
}
