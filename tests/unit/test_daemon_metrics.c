/* Unit tests: the metrics_listen address (lib/metrics_listen.c) and its
 * validation by the configuration; the daemons' text and lag clock
 * (lib/daemon_metrics.c). */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "daemon_metrics.h"
#include "metrics_listen.h"
#include "t.h"

/* Addresses: numeric IPv4 and [IPv6] with a port; empty is off; the rest
 * refused. */
static void test_parse(void)
{
	struct sockaddr_storage sa;
	socklen_t len;
	char err[256];
	static const char *const bad[] = {
	    "127.0.0.1",     "127.0.0.1:",     "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80",
	    "127.0.0.1:80x", "localhost:80",   ":80",	      "::1:80",		 "[::1]80",
	    "[::1]:",	     "[127.0.0.1]:80", "1.2.3:80",    "127.0.0.1: 80"};

	CHECK(metrics_listen_parse("", &sa, &len, err, sizeof(err)) == 0);
	CHECK(metrics_listen_parse("127.0.0.1:9310", &sa, &len, err, sizeof(err)) == 1);
	CHECK(sa.ss_family == AF_INET && len == sizeof(struct sockaddr_in));
	CHECK(ntohs(((struct sockaddr_in *)&sa)->sin_port) == 9310);
	CHECK(metrics_listen_parse("[::1]:65535", &sa, &len, err, sizeof(err)) == 1);
	CHECK(sa.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = metrics_listen_parse(bad[i], &sa, &len, err, sizeof(err));
		CHECK(rc == -1);
		if (rc != -1)
			fprintf(stderr, "accepted '%s'\n", bad[i]);
	}
	/* the keys are checked at load, the bad value not kept */
	conf_defaults();
	CHECK(conf_set("relay_metrics_listen", "127.0.0.1:9310", err, sizeof(err)) == 0);
	CHECK(conf_set("relay_metrics_listen", "localhost:9310", err, sizeof(err)) == -1);
	CHECK(strstr(err, "relay_metrics_listen") != NULL);
	CHECK(strcmp(conf_str(CONF_RELAY_METRICS_LISTEN), "127.0.0.1:9310") == 0);
	CHECK(conf_set("consumer_metrics_listen", "[::1]:1", err, sizeof(err)) == 0);
}

/* occurredAt to seconds: Z, fractions, offsets; garbage refused. */
static void test_time(void)
{
	CHECK(daemon_metrics_parse_time("1970-01-01T00:00:00Z") == 0);
	CHECK(daemon_metrics_parse_time("2026-11-23T10:00:00.5Z") == 1795428000.5);
	CHECK(daemon_metrics_parse_time("2026-11-23T11:00:00+01:00") == 1795428000);
	CHECK(daemon_metrics_parse_time("2026-11-23T09:30:00-00:30") == 1795428000);
	CHECK(daemon_metrics_parse_time("2026-11-23 10:00:00Z") == -1);
	CHECK(daemon_metrics_parse_time("2026-11-23T10:00:00") == -1);
	CHECK(daemon_metrics_parse_time("x") == -1);
	CHECK(daemon_metrics_parse_time(NULL) == -1);
}

/* The consumer's text: outcomes by label, unknown ones as other, a lag
 * observed in its bucket. */
static void test_render(void)
{
	size_t len;
	char *text;

	CHECK(daemon_metrics_render(&len) == NULL); /* before init */
	daemon_metrics_init(DAEMON_METRICS_CONSUMER, "consumer");
	daemon_metrics_outcome("applied");
	daemon_metrics_outcome("applied");
	daemon_metrics_outcome("nonsense");
	daemon_metrics_lag("1970-01-01T00:00:00Z"); /* decades: above every bound */
	daemon_metrics_loop(1, 0, 3);
	text = daemon_metrics_render(&len);
	CHECK(text && strlen(text) == len);
	if (!text)
		return;
	CHECK(strstr(
	    text, "magenta_consumer_events_total{service=\"consumer\",outcome=\"applied\"} 2\n"));
	CHECK(strstr(text,
		     "magenta_consumer_events_total{service=\"consumer\",outcome=\"other\"} 1\n"));
	CHECK(strstr(
	    text,
	    "magenta_consumer_event_lag_seconds_bucket{service=\"consumer\",le=\"3600\"} 0\n"));
	CHECK(strstr(
	    text,
	    "magenta_consumer_event_lag_seconds_bucket{service=\"consumer\",le=\"+Inf\"} 1\n"));
	CHECK(strstr(text, "magenta_broker_reconnects_total{service=\"consumer\"} 2\n"));
	CHECK(strstr(text, "magenta_database_connected{service=\"consumer\"} 0\n"));
	CHECK(strstr(text, "# TYPE magenta_consumer_apply_duration_seconds histogram\n"));
	CHECK(!strstr(text, "magenta_relay_"));
	free(text);
}

int main(void)
{
	test_parse();
	test_time();
	test_render();
	return t_done();
}
