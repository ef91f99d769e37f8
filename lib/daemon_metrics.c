/* daemon_metrics: the daemons' counters and text (daemon_metrics.h). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "daemon_metrics.h"

/* Publish and apply times: a batch takes a few ms to seconds. */
static const double time_bounds[] = {.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const char *const time_text[] = {"0.001", "0.005", "0.01", "0.025", "0.05", "0.1",
					"0.25",	 "0.5",	  "1",	  "2.5",   "5",	   "10"};
/* End-to-end lag: from ms (flowing) to an hour (an outage drained). */
static const double lag_bounds[] = {.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600};
static const char *const lag_text[] = {"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
				       "2.5",  "5",	"10",	"30",  "60",   "300", "3600"};
#define NTIME (sizeof(time_bounds) / sizeof(time_bounds[0]))
#define NLAG (sizeof(lag_bounds) / sizeof(lag_bounds[0]))
#define NMAX 16

/* A histogram: per-bucket counts (the last above every bound), sum. */
struct hist {
	const double *bounds;
	const char *const *text;
	size_t n;
	uint64_t bucket[NMAX + 1];
	double sum;
};

static const char *const event_types[] = {"UserCreated", "UserUpdated", "UserDeleted", "other"};
#define NTYPE (sizeof(event_types) / sizeof(event_types[0]))
static const char *const outcomes[] = {"applied", "stale",	   "same_version", "redelivered",
				       "parked",  "dead_lettered", "requeued",	   "other"};
#define NOUTCOME (sizeof(outcomes) / sizeof(outcomes[0]))

static struct {
	int on;
	enum daemon_metrics_kind kind;
	const char *service;
	double start, last_loop;
	int broker_up, db_up;
	unsigned long connects;
	/* relay */
	uint64_t published[NTYPE], acks, nacks, returns;
	struct hist publish;
	long long backlog;
	double oldest_age;
	/* consumer */
	uint64_t outcome[NOUTCOME];
	struct hist apply, lag;
	size_t held;
} m;

/* Now, seconds since the epoch with the sub-second part. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Make h empty with bounds. */
static void hist_init(struct hist *h, const double *bounds, const char *const *text, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->text = text;
	h->n = n;
}

/* Count one observation. */
static void hist_observe(struct hist *h, double v)
{
	size_t i = 0;

	if (!(v >= 0)) /* NaN too; a negative lag is clock skew */
		v = 0;
	while (i < h->n && v > h->bounds[i])
		i++;
	h->bucket[i]++;
	h->sum += v;
}

void daemon_metrics_init(enum daemon_metrics_kind kind, const char *service)
{
	memset(&m, 0, sizeof(m));
	m.on = 1;
	m.kind = kind;
	m.service = service;
	m.start = now_s();
	m.last_loop = m.start;
	hist_init(&m.publish, time_bounds, time_text, NTIME);
	hist_init(&m.apply, time_bounds, time_text, NTIME);
	hist_init(&m.lag, lag_bounds, lag_text, NLAG);
}

void daemon_metrics_loop(int broker_up, int db_up, unsigned long broker_connects)
{
	if (!m.on)
		return;
	m.last_loop = now_s();
	m.broker_up = broker_up;
	m.db_up = db_up;
	m.connects = broker_connects;
}

/* The index of name in list (n entries, the last "other"). */
static size_t slot(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n - 1; i++)
		if (strcmp(list[i], name) == 0)
			return i;
	return n - 1;
}

void daemon_metrics_published(const char *event_type)
{
	if (m.on)
		m.published[slot(event_types, NTYPE, event_type)]++;
}

void daemon_metrics_confirm(int ack)
{
	if (m.on)
		*(ack ? &m.acks : &m.nacks) += 1;
}

void daemon_metrics_returned(void)
{
	if (m.on)
		m.returns++;
}

void daemon_metrics_publish_time(double seconds)
{
	if (m.on)
		hist_observe(&m.publish, seconds);
}

void daemon_metrics_outbox(long long backlog, double oldest_age_seconds)
{
	if (!m.on)
		return;
	m.backlog = backlog;
	m.oldest_age = oldest_age_seconds;
}

void daemon_metrics_outcome(const char *outcome)
{
	if (m.on)
		m.outcome[slot(outcomes, NOUTCOME, outcome)]++;
}

void daemon_metrics_apply_time(double seconds)
{
	if (m.on)
		hist_observe(&m.apply, seconds);
}

double daemon_metrics_parse_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se, n = 0;
	double frac = 0, t;
	const char *p;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
	    n != 19)
		return -1;
	p = s + n;
	if (*p == '.') {
		double scale = 0.1;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = (double)timegm(&tm) + frac;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return t;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		return *p == '+' ? t - (oh * 3600 + om * 60) : t + (oh * 3600 + om * 60);
	}
	return -1;
}

void daemon_metrics_lag(const char *occurred_at)
{
	double t;

	if (!m.on || (t = daemon_metrics_parse_time(occurred_at)) < 0)
		return;
	hist_observe(&m.lag, now_s() - t);
}

void daemon_metrics_held(size_t n)
{
	if (m.on)
		m.held = n;
}

/* The HELP and TYPE lines of a family. */
static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample with the service label, and one more label when label is set. */
static void sample(FILE *f, const char *name, const char *label, const char *value, double v)
{
	fprintf(f, "%s{service=\"%s\"", name, m.service);
	if (label)
		fprintf(f, ",%s=\"%s\"", label, value);
	fprintf(f, "} %.17g\n", v);
}

/* A family of one sample. */
static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	head(f, name, type, help);
	sample(f, name, NULL, NULL, v);
}

/* A histogram family: cumulative buckets, +Inf the count, sum, count. */
static void hist(FILE *f, const char *name, const char *help, const struct hist *h)
{
	uint64_t cum = 0;

	head(f, name, "histogram", help);
	for (size_t i = 0; i <= h->n; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s_bucket{service=\"%s\",le=\"%s\"} %llu\n", name, m.service,
			i < h->n ? h->text[i] : "+Inf", (unsigned long long)cum);
	}
	fprintf(f, "%s_sum{service=\"%s\"} %.9f\n", name, m.service, h->sum);
	fprintf(f, "%s_count{service=\"%s\"} %llu\n", name, m.service, (unsigned long long)cum);
}

/* The relay's own families. */
static void render_relay(FILE *f)
{
	head(f, "magenta_relay_events_published_total", "counter",
	     "Outbox events the broker confirmed (acked and not returned), by event type.");
	for (size_t i = 0; i < NTYPE; i++)
		sample(f, "magenta_relay_events_published_total", "event_type", event_types[i],
		       (double)m.published[i]);
	head(f, "magenta_relay_confirms_total", "counter",
	     "Publisher confirms received, by result (ack, nack).");
	sample(f, "magenta_relay_confirms_total", "result", "ack", (double)m.acks);
	sample(f, "magenta_relay_confirms_total", "result", "nack", (double)m.nacks);
	one(f, "magenta_relay_returns_total", "counter",
	    "Messages the broker returned as unroutable (no queue bound); they stay unpublished.",
	    (double)m.returns);
	hist(f, "magenta_relay_publish_duration_seconds",
	     "Time of one batch from its first publish to its last confirm.", &m.publish);
	one(f, "magenta_relay_outbox_backlog", "gauge",
	    "Outbox rows not yet published (read once per loop turn, at most once a second).",
	    (double)m.backlog);
	one(f, "magenta_relay_outbox_oldest_age_seconds", "gauge",
	    "Age of the oldest unpublished outbox row (0: none).", m.oldest_age);
}

/* The consumer's own families. */
static void render_consumer(FILE *f)
{
	head(f, "magenta_consumer_events_total", "counter",
	     "Events settled, by outcome (applied, stale, same_version, redelivered, parked, "
	     "dead_lettered, requeued).");
	for (size_t i = 0; i < NOUTCOME; i++)
		sample(f, "magenta_consumer_events_total", "outcome", outcomes[i],
		       (double)m.outcome[i]);
	hist(f, "magenta_consumer_apply_duration_seconds",
	     "Time of one apply transaction (up to half the prefetch window of events).", &m.apply);
	hist(f, "magenta_consumer_event_lag_seconds",
	     "From an applied event's occurredAt to the commit that applied it.", &m.lag);
	one(f, "magenta_consumer_messages_held", "gauge",
	    "Messages received and not yet acknowledged or rejected (unacked).", (double)m.held);
}

char *daemon_metrics_render(size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (!m.on)
		return NULL;
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	if (m.kind == DAEMON_METRICS_RELAY)
		render_relay(f);
	else
		render_consumer(f);
	one(f, "magenta_broker_connected", "gauge", "1 while the RabbitMQ connection is up.",
	    m.broker_up);
	one(f, "magenta_broker_reconnects_total", "counter",
	    "RabbitMQ connections made after the first.",
	    m.connects > 0 ? (double)(m.connects - 1) : 0);
	one(f, "magenta_database_connected", "gauge", "1 while the PostgreSQL connection is up.",
	    m.db_up);
	one(f, "magenta_loop_last_timestamp_seconds", "gauge",
	    "When the main loop last went round (at least once a second when healthy), seconds "
	    "since the Unix epoch.",
	    m.last_loop);
	one(f, "magenta_start_time_seconds", "gauge",
	    "When the program started, seconds since the Unix epoch.", m.start);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
