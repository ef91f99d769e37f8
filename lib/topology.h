/* topology: Magenta's exchanges, queues and bindings on RabbitMQ
 * (docs/events.md "Topology"), from the exchange, queue, queue_type and
 * delivery_limit keys. */
#ifndef MAGENTA_TOPOLOGY_H
#define MAGENTA_TOPOLOGY_H

#include <stddef.h>

#include "mq.h"

/* The events exchange (topic, durable): the relay's.  0 / -1. */
int topology_declare_exchange(struct mq *mq);

/* The exchange, the dead-letter exchange (fanout) and queue, the queue
 * (dead-lettering there; quorum: with delivery_limit, at-least-once
 * dead-lettering) and its bindings: the consumer's.  0 / -1. */
int topology_declare(struct mq *mq);

/* exchange + ".dlx", queue + ".dlq" */
void topology_dlx_name(char *out, size_t n);
void topology_dlq_name(char *out, size_t n);

#endif
