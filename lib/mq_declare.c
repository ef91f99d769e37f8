/* mq_declare: AMQP declarations — exchanges, queues with arguments,
 * bindings, passive declares for counts.  What Magenta declares is
 * lib/topology.c's. */
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
#include "conf.h"
#include "log.h"

/* Declare one durable exchange of the given type. */
int mq_declare_exchange_as(struct mq *mq, const char *name, const char *type)
{
	if (mq_connect(mq) != 0)
		return -1;
	amqp_exchange_declare(mq->conn, MQ_CH, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
			      0, 1, 0, 0, amqp_empty_table);
	return mq_rpc_check(mq, "exchange.declare") == 0 ? 0 : -1;
}

/* A string table entry. */
amqp_table_entry_t mq_arg_str(const char *key, const char *value)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_UTF8;
	e.value.value.bytes = amqp_cstring_bytes(value);
	return e;
}

/* Declare a durable queue with arguments; on 406 (it exists with other
 * arguments) fall back to a passive declare and warn.  0 / -1. */
int mq_declare_queue(struct mq *mq, const char *name, amqp_table_entry_t *args, int nargs)
{
	amqp_table_t t = { nargs, args };
	char q[240];
	int rc;

	if (mq_connect(mq) != 0)
		return -1;
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

/* An integer table entry. */
amqp_table_entry_t mq_arg_i64(const char *key, int64_t value)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_I64;
	e.value.value.i64 = value;
	return e;
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
