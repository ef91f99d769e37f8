/* Unit tests: the metrics text (lib/metrics.c): label escaping, cumulative
 * histogram buckets whose +Inf is the count, the route and status labels,
 * and counters shared with forked children. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "t.h"

static void h_nothing(struct http_req *r)
{
	(void)r;
}

/* A route table with a path that needs escaping (no real one does). */
static const struct http_route routes[] = {
    {"GET", "/a", h_nothing, 0},
    {"POST", "/q\"uote\\back\nline", h_nothing, 0},
    {"GET", "/users/", h_nothing, 1},
};

/* The value of the sample whose line starts with prefix (up to the value),
 * or -1 when absent. */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
			return atof(l + n + 1);
	return -1;
}

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, line, n) == 0 && (l[n] == '\n' || l[n] == '\0'))
			return 1;
	return 0;
}

int main(void)
{
	size_t len = 0;
	char *text;
	pid_t pid;
	int st;

	/* before init: nothing counted, nothing rendered */
	metrics_request(0, "GET", 200, 0.1);
	CHECK(metrics_render(&len) == NULL);
	CHECK(metrics_init("test", routes, sizeof(routes) / sizeof(routes[0]), METRICS_AUTH) == 0);

	/* 0.003 s: 0.005 and up; 0.2 s: 0.25 and up; 20 s: +Inf only */
	metrics_request(0, "GET", 200, 0.003);
	metrics_request(0, "GET", 200, 0.2);
	metrics_request(0, "GET", 404, 20);
	metrics_request(1, "POST", 201, 0.01);
	metrics_request(2, "GET", 599, 0.01); /* a status of no list: "other" */
	metrics_request(-1, "BREW", 405, 0.01);
	metrics_request(-1, "GET", 404, 0.01);
	metrics_request(-1, "GET", 0, 0.01); /* nothing replied: 500 */
	metrics_login(METRICS_LOGIN_LOCKED);
	metrics_token(METRICS_TOKEN_ID);
	metrics_refresh_rotation();
	metrics_argon2(0.0001);
	metrics_workers(3);

	/* the children's counts land in the parent's mapping */
	pid = fork();
	if (pid == 0) {
		metrics_request(0, "GET", 200, 0.003);
		metrics_login(METRICS_LOGIN_LOCKED);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && st == 0);

	text = metrics_render(&len);
	CHECK(text && strlen(text) == len);
	if (!text)
		return 99;

	CHECK(has_line(text, "# TYPE magenta_http_requests_total counter"));
	CHECK(has_line(text, "# TYPE magenta_http_request_duration_seconds histogram"));
	CHECK(sample(text,
		     "magenta_http_requests_total{service=\"test\",route=\"/a\",method=\"GET\","
		     "status=\"200\"}") == 3);
	CHECK(sample(text,
		     "magenta_http_requests_total{service=\"test\",route=\"/a\",method=\"GET\","
		     "status=\"404\"}") == 1);
	/* escaped: \" \\ \n */
	CHECK(sample(text, "magenta_http_requests_total{service=\"test\",route=\"/q\\\"uote\\\\back"
			   "\\nline\",method=\"POST\",status=\"201\"}") == 1);
	/* a prefix route, a status outside the list */
	CHECK(sample(text, "magenta_http_requests_total{service=\"test\",route=\"/users/*\","
			   "method=\"GET\",status=\"other\"}") == 1);
	/* no route: "other", and a method of no list is "other" too */
	CHECK(sample(text, "magenta_http_requests_total{service=\"test\",route=\"other\","
			   "method=\"other\",status=\"405\"}") == 1);
	CHECK(sample(text, "magenta_http_requests_total{service=\"test\",route=\"other\","
			   "method=\"GET\",status=\"404\"}") == 1);
	CHECK(sample(text, "magenta_http_requests_total{service=\"test\",route=\"other\","
			   "method=\"GET\",status=\"500\"}") == 1);
	CHECK(!strstr(text, "BREW"));
	/* zero counters are left out */
	CHECK(!strstr(text, "status=\"503\""));

	/* cumulative buckets; +Inf is the count */
#define B(le)                                                                                      \
	sample(text, "magenta_http_request_duration_seconds_bucket{service=\"test\",route=\"/a\"," \
		     "method=\"GET\",le=\"" le "\"}")
	CHECK(B("0.001") == 0);
	CHECK(B("0.005") == 2);
	CHECK(B("0.1") == 2);
	CHECK(B("0.25") == 3);
	CHECK(B("10") == 3);
	CHECK(B("+Inf") == 4);
#undef B
	CHECK(sample(text,
		     "magenta_http_request_duration_seconds_count{service=\"test\",route=\"/a\","
		     "method=\"GET\"}") == 4);
	{
		double sum = sample(text, "magenta_http_request_duration_seconds_sum{service="
					  "\"test\",route=\"/a\",method=\"GET\"}");
		CHECK(sum > 20.205 && sum < 20.207);
	}
	/* every route of the table has its histogram, used or not; "other"
	 * only for methods seen */
	CHECK(sample(text, "magenta_http_request_duration_seconds_count{service=\"test\","
			   "route=\"/users/*\",method=\"GET\"}") == 1);
	CHECK(!strstr(text, "route=\"other\",method=\"POST\""));

	CHECK(sample(text, "magenta_logins_total{service=\"test\",result=\"locked\"}") == 2);
	CHECK(sample(text, "magenta_logins_total{service=\"test\",result=\"ok\"}") == 0);
	CHECK(sample(text, "magenta_tokens_issued_total{service=\"test\",kind=\"id\"}") == 1);
	CHECK(sample(text, "magenta_refresh_rotations_total{service=\"test\"}") == 1);
	CHECK(sample(text, "magenta_refresh_reuse_detected_total{service=\"test\"}") == 0);
	CHECK(sample(text, "magenta_argon2_hashes_total{service=\"test\"}") == 1);
	CHECK(sample(text, "magenta_argon2_wait_seconds_bucket{service=\"test\",le=\"0.001\"}") ==
	      1);
	CHECK(sample(text, "magenta_argon2_wait_seconds_count{service=\"test\"}") == 1);
	CHECK(sample(text, "magenta_workers{service=\"test\"}") == 3);
	CHECK(sample(text, "magenta_start_time_seconds{service=\"test\"}") > 1.7e9);
	/* 0.0.4 has no # EOF; the text ends with a newline */
	CHECK(!strstr(text, "# EOF"));
	CHECK(len > 0 && text[len - 1] == '\n');
	/* every family has its HELP and TYPE, once */
	CHECK(strstr(text, "# HELP magenta_tokens_issued_total ") != NULL);
	CHECK(strstr(strstr(text, "# TYPE magenta_workers gauge") + 1, "# TYPE magenta_workers ") ==
	      NULL);
	free(text);

	/* a second init (a reload) keeps the counts */
	CHECK(metrics_init("test", routes, sizeof(routes) / sizeof(routes[0]), METRICS_AUTH) == 0);
	text = metrics_render(&len);
	CHECK(text &&
	      sample(text, "magenta_logins_total{service=\"test\",result=\"locked\"}") == 2);
	free(text);
	return t_done();
}
