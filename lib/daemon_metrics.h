/* daemon_metrics: the counters of magenta-relay and magenta-consumer and
 * their Prometheus 0.0.4 text, served by metrics_listen (docs/operations.md,
 * "Daemon metrics").
 *
 * Each daemon is one single-threaded process: plain counters, no sharing.
 * Before daemon_metrics_init every call does nothing.  Labels are bounded:
 * event types and outcomes come from fixed lists (anything else is
 * "other"); no identifier ever becomes a label. */
#ifndef MAGENTA_DAEMON_METRICS_H
#define MAGENTA_DAEMON_METRICS_H

#include <stddef.h>

enum daemon_metrics_kind { DAEMON_METRICS_RELAY, DAEMON_METRICS_CONSUMER };

/* Start counting as kind; service is the label value ("relay"). */
void daemon_metrics_init(enum daemon_metrics_kind kind, const char *service);

/* Once per turn of the main loop: its time, the broker and database
 * connection states, and the broker connections made so far (struct
 * mq's connects: every one after the first is a reconnect). */
void daemon_metrics_loop(int broker_up, int db_up, unsigned long broker_connects);

/* ---- relay ---- */

/* One message of event_type acked by the broker (published). */
void daemon_metrics_published(const char *event_type);

/* A publisher confirm: ack (1) or nack (0). */
void daemon_metrics_confirm(int ack);

/* A message returned by the broker (unroutable). */
void daemon_metrics_returned(void);

/* One batch from its first publish to its last confirm, seconds. */
void daemon_metrics_publish_time(double seconds);

/* The outbox: rows not yet published, and the oldest one's age. */
void daemon_metrics_outbox(long long backlog, double oldest_age_seconds);

/* ---- consumer ---- */

/* One event settled with outcome: what apply_user_event returned
 * (applied, stale, same_version, redelivered, parked), or dead_lettered
 * (rejected as poison), requeued (its data broke the transaction). */
void daemon_metrics_outcome(const char *outcome);

/* One apply transaction, seconds. */
void daemon_metrics_apply_time(double seconds);

/* An event applied: its occurredAt (RFC 3339 text) to now.  Unparsable
 * text is ignored. */
void daemon_metrics_lag(const char *occurred_at);

/* Messages received and not yet acked or rejected. */
void daemon_metrics_held(size_t n);

/* The text of every family (a metrics_render_fn); the caller frees it.
 * NULL when out of memory or before daemon_metrics_init. */
char *daemon_metrics_render(size_t *len);

/* Seconds since the epoch of an RFC 3339 time ("2026-11-23T10:00:00.123Z",
 * offsets "+01:00"), or -1 when it is not one. */
double daemon_metrics_parse_time(const char *s);

#endif
