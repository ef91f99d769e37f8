/* metrics: a FastCGI program's counters, shared by all its workers, and
 * their text in the Prometheus exposition format 0.0.4
 * (docs/operations.md, "Metrics").
 *
 * The counters live in one fixed-layout shared anonymous mapping made by
 * metrics_init before the supervisor forks its workers: every worker (and
 * each replacement, and the workers of a reload) adds to the same
 * counters, so one scrape, whichever worker answers it, sees the whole
 * program.  The mapping is made once per process start and never again: a
 * SIGHUP reload keeps it, like the argon2 slots.  With -p 1 it is the
 * process's own.  Counters are C11 atomics, added with relaxed order: no
 * locks, a worker killed mid-request loses nothing but its own request.
 *
 * Before metrics_init (magentactl, the daemons, the unit tests that do not
 * call it) every metrics_* counting call does nothing.
 *
 * Labels are bounded: routes are those of the route table (anything else is
 * route="other" with a method from a fixed list), statuses those the
 * programs send (any other is status="other"); no user input, identifier
 * or secret ever becomes a label. */
#ifndef MAGENTA_METRICS_H
#define MAGENTA_METRICS_H

#include <stddef.h>

#include "http.h"

/* Most routes in a route table. */
#define METRICS_ROUTES_MAX 48

/* The families of the authentication service (logins, refresh, tokens). */
#define METRICS_AUTH 1u

enum metrics_login {
	METRICS_LOGIN_OK,	 /* a session was opened */
	METRICS_LOGIN_FAILED,	 /* unknown user or wrong password */
	METRICS_LOGIN_LOCKED,	 /* refused for a lock (failures, device, administrator) */
	METRICS_LOGIN_THROTTLED, /* refused for the address's failure limit (429) */
	METRICS_LOGIN__COUNT
};

enum metrics_token {
	METRICS_TOKEN_ACCESS,
	METRICS_TOKEN_REFRESH,
	METRICS_TOKEN_ID,
	METRICS_TOKEN__COUNT
};

/* Make the shared counters for service ("auth", a label value) with the
 * route table routes (n entries, kept by reference: the caller's static
 * table) and the families flags (METRICS_AUTH); once, before forking
 * workers.  0, or -1 (errno set: too many routes EINVAL, or mmap's). */
int metrics_init(const char *service, const struct http_route *routes, size_t n, unsigned flags)
    __attribute__((warn_unused_result));

/* One request answered: route is the index of the route table entry that
 * ran (-1: none, counted as route="other" with method), status what was
 * replied (0: nothing, counted as 500), seconds its time. */
void metrics_request(int route, const char *method, int status, double seconds);

/* One argon2id computation (hash or verification) for a request, after
 * wait_seconds waiting for a slot. */
void metrics_argon2(double wait_seconds);

void metrics_login(enum metrics_login result);
void metrics_refresh_rotation(void);
void metrics_refresh_reuse(void);
void metrics_token(enum metrics_token kind);

/* The supervisor's workers now (1 for a single process). */
void metrics_workers(int n);

/* The text of every family, NUL-terminated, *len its length; the caller
 * frees it.  NULL when out of memory or before metrics_init. */
char *metrics_render(size_t *len);

/* Load metrics_allow from the configuration (a program's init, each
 * reload): 0, or -1 with err naming the key. */
int metrics_allow_configure(char *err, size_t errlen) __attribute__((warn_unused_result));

/* What metrics_allow_configure made. */
void metrics_allow_release(void);

/* GET /api/registration/metrics, GET /api/auth/metrics: the text, to a
 * REMOTE_ADDR in metrics_allow; 403 otherwise.  The request itself is
 * counted after its answer, so a scrape does not see itself. */
void h_metrics(struct http_req *r);

#endif
