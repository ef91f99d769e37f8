/* mq_consume: consuming with manual acknowledgements, basic.get, and
 * reading a message's properties and headers. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "mq.h"
#include "mq_internal.h"
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "backoff.h"

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
	if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
		if (p->correlation_id.len < sizeof(m->request_id) &&
		    !memchr(p->correlation_id.bytes, '\0', p->correlation_id.len)) {
			if (p->correlation_id.len > 0)
				memcpy(m->request_id, p->correlation_id.bytes,
				       p->correlation_id.len);
			m->request_id[p->correlation_id.len] = '\0';
		} else {
			snprintf(m->request_id, sizeof(m->request_id), "!");
		}
	}
	if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
		const amqp_field_value_t *v = mq_table_get(&p->headers, "x-death");

		mq_header_str(&p->headers, "x-magenta-signature", m->sig, sizeof(m->sig));
		mq_header_str(&p->headers, "x-magenta-key-id", m->sig_kid, sizeof(m->sig_kid));
		if (!m->request_id[0])
			mq_header_str(&p->headers, "x-request-id", m->request_id,
				      sizeof(m->request_id));

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
	uint64_t end = clock_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	memset(m, 0, sizeof(*m));
	if (!mq->conn)
		return -1;
	for (;;) {
		amqp_frame_t f;
		uint64_t now = clock_mono_ms();
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
