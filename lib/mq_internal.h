/* mq_internal: what the files of the mq module share (mq.c, mq_declare.c,
 * mq_publish.c, mq_consume.c); not for other callers. */
#ifndef MAGENTA_MQ_INTERNAL_H
#define MAGENTA_MQ_INTERNAL_H

#include <sys/time.h>

#include <amqp.h>

#include "mq.h"

#define MQ_CH 1
#define MQ_FRAME_MAX 131072
#define MQ_RPC_TIMEOUT_S 10

/* Record a failure: log the outage once, close, start the backoff. */
void mq_fail(struct mq *mq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Check the last RPC.  0 ok; a channel-level refusal returns its reply
 * code (404, 406, ...) with the channel reopened; anything else drops the
 * connection and returns -1.  what names the operation for the error. */
int mq_rpc_check(struct mq *mq, const char *what);

/* Describe a failed RPC reply in buf (n bytes); buf. */
const char *mq_reply_text(amqp_rpc_reply_t r, char *buf, size_t n);

/* React to a frame nobody asked for.  0 to go on; -1 when the connection
 * is gone. */
int mq_async_frame(struct mq *mq, const amqp_frame_t *f);

/* A timeval for ms milliseconds. */
struct timeval mq_tv(long ms);

#endif
