/* Unit tests: amqp_hosts lists (lib/hostlist.c) and their validation by
 * the configuration. */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "hostlist.h"
#include "t.h"

/* Good lists: entries, trimming, IPv6 in brackets, empty. */
static void test_good(void)
{
	struct hostlist_entry h[HOSTLIST_MAX];
	char err[256];

	CHECK(hostlist_parse("", h, HOSTLIST_MAX, err, sizeof(err)) == 0);
	CHECK(hostlist_parse("   ", h, HOSTLIST_MAX, err, sizeof(err)) == 0);
	CHECK(hostlist_parse("127.0.0.1:5672", h, HOSTLIST_MAX, err, sizeof(err)) == 1);
	CHECK(strcmp(h[0].host, "127.0.0.1") == 0 && h[0].port == 5672);
	CHECK(hostlist_parse("mq1.example:5671, mq2.example:5672 ,[::1]:1,[fe80::1%eth0]:65535", h,
			     HOSTLIST_MAX, err, sizeof(err)) == 4);
	CHECK(strcmp(h[0].host, "mq1.example") == 0 && h[0].port == 5671);
	CHECK(strcmp(h[1].host, "mq2.example") == 0 && h[1].port == 5672);
	CHECK(strcmp(h[2].host, "::1") == 0 && h[2].port == 1);
	CHECK(strcmp(h[3].host, "fe80::1%eth0") == 0 && h[3].port == 65535);
	/* the list is read in order: the first entry is tried first */
	CHECK(hostlist_parse("b:2,a:1", h, 2, err, sizeof(err)) == 2);
	CHECK(strcmp(h[0].host, "b") == 0 && h[1].port == 1);
}

/* Bad entries are refused with the entry named. */
static void test_bad(void)
{
	static const char *const bad[] = {
	    "localhost", "localhost:", ":5672",	  "h:0",     "h:65536",	 "h:99999999999999",
	    "h:12a",	 "h:-1",       "h:5672,", ",h:5672", "h:1,,h:2", "::1:5672",
	    "[::1]5672", "[::1:5672",  "[]:5672", "a b:1",   "h:1 2",
	};
	struct hostlist_entry h[HOSTLIST_MAX];
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(hostlist_parse(bad[i], h, HOSTLIST_MAX, err, sizeof(err)) == -1);
		CHECK(err[0] != '\0');
	}
	CHECK(hostlist_parse("h:5672,x:1", h, HOSTLIST_MAX, err, sizeof(err)) == 2);
	CHECK(hostlist_parse("h:5672,x", h, HOSTLIST_MAX, err, sizeof(err)) == -1);
	CHECK(strstr(err, "'x'") != NULL);
	CHECK(hostlist_parse("a:1,b:2,c:3", h, 2, err, sizeof(err)) == -1);
	CHECK(strstr(err, "more than 2") != NULL);
}

/* The configuration refuses a bad amqp_hosts at load, naming the key;
 * an empty one (the default) keeps amqp_host and amqp_port. */
static void test_conf(void)
{
	char err[512];

	conf_defaults();
	CHECK(strcmp(conf_str(CONF_AMQP_HOSTS), "") == 0);
	CHECK(conf_set("amqp_hosts", "127.0.0.1:5672,127.0.0.1:5673", err, sizeof(err)) == 0);
	CHECK(strcmp(conf_str(CONF_AMQP_HOSTS), "127.0.0.1:5672,127.0.0.1:5673") == 0);
	CHECK(conf_set("amqp_hosts", "127.0.0.1", err, sizeof(err)) == -1);
	CHECK(strstr(err, "key 'amqp_hosts'") != NULL);
	CHECK(strstr(err, "'127.0.0.1': expected host:port") != NULL);
	/* the bad value did not replace the good one */
	CHECK(strcmp(conf_str(CONF_AMQP_HOSTS), "127.0.0.1:5672,127.0.0.1:5673") == 0);
	CHECK(conf_set("amqp_hosts", "", err, sizeof(err)) == 0);
}

int main(void)
{
	test_good();
	test_bad();
	test_conf();
	return t_done();
}
