/* mq_publish: publishing with publisher confirms (librabbitmq 0.11 has no
 * confirm-wait call: basic.ack, basic.nack and basic.return frames are read
 * here). */
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
	amqp_table_entry_t hdr[3];
	int nhdr;
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
		nhdr = 0;
		if (msgs[i].sig && msgs[i].sig_kid) {
			hdr[nhdr].key = amqp_cstring_bytes("x-magenta-signature");
			hdr[nhdr].value.kind = AMQP_FIELD_KIND_UTF8;
			hdr[nhdr++].value.value.bytes = amqp_cstring_bytes(msgs[i].sig);
			hdr[nhdr].key = amqp_cstring_bytes("x-magenta-key-id");
			hdr[nhdr].value.kind = AMQP_FIELD_KIND_UTF8;
			hdr[nhdr++].value.value.bytes = amqp_cstring_bytes(msgs[i].sig_kid);
		}
		if (msgs[i].request_id && msgs[i].request_id[0]) {
			/* a label outside the signed body (docs/events.md) */
			props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
			props.correlation_id = amqp_cstring_bytes(msgs[i].request_id);
			hdr[nhdr].key = amqp_cstring_bytes("x-request-id");
			hdr[nhdr].value.kind = AMQP_FIELD_KIND_UTF8;
			hdr[nhdr++].value.value.bytes = amqp_cstring_bytes(msgs[i].request_id);
		}
		if (nhdr > 0) {
			props._flags |= AMQP_BASIC_HEADERS_FLAG;
			props.headers.num_entries = nhdr;
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

	deadline = clock_mono_ms() + (uint64_t)timeout_ms;
	while (pending > 0) {
		amqp_frame_t f;
		uint64_t now = clock_mono_ms();
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
