/* topology: what Magenta declares on RabbitMQ (docs/events.md
 * "Topology"): the topic exchange of user events, its dead-letter
 * exchange, the consumer's queue and dead-letter queue, the bindings by
 * routing key.  Built on the AMQP declarations of mq_declare.c. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <amqp.h>

#include "conf.h"
#include "mq.h"
#include "topology.h"

/* Names of the routing keys the consumer's queue is bound with. */
static const char *const topology_keys[] = { "user.created", "user.updated", "user.deleted" };

/* exchange + ".dlx" */
void topology_dlx_name(char *out, size_t n)
{
	snprintf(out, n, "%s.dlx", conf_str(CONF_EXCHANGE));
}

/* queue + ".dlq" */
void topology_dlq_name(char *out, size_t n)
{
	snprintf(out, n, "%s.dlq", conf_str(CONF_QUEUE));
}

/* The events exchange: what the relay publishes to. */
int topology_declare_exchange(struct mq *mq)
{
	return mq_declare_exchange_as(mq, conf_str(CONF_EXCHANGE), "topic");
}

/* Exchange, dead-letter exchange and queue, the queue and its bindings. */
int topology_declare(struct mq *mq)
{
	char dlx[300], dlq[300];
	int quorum = strcmp(conf_str(CONF_QUEUE_TYPE), "quorum") == 0;
	amqp_table_entry_t args[5];
	int n = 0;

	if (mq_connect(mq) != 0)
		return -1;
	topology_dlx_name(dlx, sizeof(dlx));
	topology_dlq_name(dlq, sizeof(dlq));
	if (mq_declare_exchange_as(mq, conf_str(CONF_EXCHANGE), "topic") != 0 ||
	    mq_declare_exchange_as(mq, dlx, "fanout") != 0)
		return -1;

	/* the dead-letter queue: same type as the main queue, no limit */
	if (quorum)
		args[n++] = mq_arg_str("x-queue-type", "quorum");
	if (mq_declare_queue(mq, dlq, args, n) != 0 || mq_bind(mq, dlq, dlx, "", 1) != 0)
		return -1;

	n = 0;
	args[n++] = mq_arg_str("x-dead-letter-exchange", dlx);
	if (quorum) {
		args[n++] = mq_arg_str("x-queue-type", "quorum");
		args[n++] = mq_arg_i64("x-delivery-limit", conf_int(CONF_DELIVERY_LIMIT));
		/* quorum queues dead-letter at most once unless told otherwise:
		 * at-least-once keeps a message in the source queue until the
		 * dead-letter queue has confirmed it, and needs reject-publish */
		args[n++] = mq_arg_str("x-dead-letter-strategy", "at-least-once");
		args[n++] = mq_arg_str("x-overflow", "reject-publish");
	}
	if (mq_declare_queue(mq, conf_str(CONF_QUEUE), args, n) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(topology_keys) / sizeof(topology_keys[0]); i++)
		if (mq_bind(mq, conf_str(CONF_QUEUE), conf_str(CONF_EXCHANGE), topology_keys[i], 1) != 0)
			return -1;
	return 0;
}
