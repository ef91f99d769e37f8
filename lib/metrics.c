/* metrics: shared counters and their Prometheus text (metrics.h). */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "metrics.h"

/* The statuses the programs send (http_reply.c's reason phrases); any
 * other is counted as "other", the last slot. */
static const int statuses[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 411, 412,
			       413, 414, 415, 417, 422, 429, 431, 500, 501, 502, 503, 504};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* The methods of route="other" (no route ran: 404, 405, the web server's
 * own errors); any other is "other", the last. */
static const char *const methods[] = {"GET",   "HEAD",	 "POST",    "PUT",
				      "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHOD (sizeof(methods) / sizeof(methods[0]))

/* Histogram bounds, seconds, with their label text; argon2id requests take
 * some 30-100 ms, a slot wait from nothing to seconds under load. */
static const double bounds[] = {.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const char *const bound_text[] = {"0.001", "0.005", "0.01", "0.025", "0.05", "0.1",
					 "0.25",  "0.5",   "1",	   "2.5",   "5",    "10"};
#define NBOUND (sizeof(bounds) / sizeof(bounds[0]))

/* The route slots: the table's routes, then route="other" by method. */
#define NSLOT (METRICS_ROUTES_MAX + NMETHOD)

/* One histogram: per-bucket counts (not cumulative; the last is above the
 * largest bound), so that the rendered +Inf bucket (their total) is the
 * count and every cumulative bucket is at most the next, whatever adds
 * meanwhile.  The sum in nanoseconds. */
struct hist {
	_Atomic uint64_t bucket[NBOUND + 1];
	_Atomic uint64_t sum_ns;
};

/* The shared mapping: fixed layout, zero at start (mmap). */
struct metrics_shm {
	_Atomic uint64_t requests[NSLOT][NSTATUS];
	struct hist duration[NSLOT];
	struct hist argon2_wait;
	_Atomic uint64_t logins[METRICS_LOGIN__COUNT];
	_Atomic uint64_t rotations, reuses;
	_Atomic uint64_t tokens[METRICS_TOKEN__COUNT];
	_Atomic int64_t workers;
	int64_t start_time; /* written before any fork */
};

static struct metrics_shm *shm;
static const char *svc_name;
static const struct http_route *svc_routes;
static size_t svc_nroutes;
static unsigned svc_flags;

int metrics_init(const char *service, const struct http_route *routes, size_t n, unsigned flags)
{
	void *p;

	if (n > METRICS_ROUTES_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (shm)
		return 0; /* made once: a reload keeps the counts */
	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	shm = p;
	shm->start_time = (int64_t)time(NULL);
	atomic_store_explicit(&shm->workers, 1, memory_order_relaxed);
	svc_name = service;
	svc_routes = routes;
	svc_nroutes = n;
	svc_flags = flags;
	return 0;
}

/* Add one to a counter. */
static void inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Read a counter. */
static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Count one observation of seconds in h. */
static void hist_observe(struct hist *h, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0)) /* NaN too */
		seconds = 0;
	if (seconds > 1e6) /* the sum in ns stays far from overflowing */
		seconds = 1e6;
	while (i < NBOUND && seconds > bounds[i])
		i++;
	inc(&h->bucket[i]);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

/* The status slot of status. */
static size_t status_slot(int status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

/* The slot of route="other" with method. */
static size_t other_slot(const char *method)
{
	size_t i = 0;

	while (i < NMETHOD - 1 && strcmp(methods[i], method) != 0)
		i++;
	return METRICS_ROUTES_MAX + i;
}

void metrics_request(int route, const char *method, int status, double seconds)
{
	size_t slot;

	if (!shm)
		return;
	slot = route >= 0 && (size_t)route < svc_nroutes ? (size_t)route
							 : other_slot(method ? method : "");
	inc(&shm->requests[slot][status_slot(status ? status : 500)]);
	hist_observe(&shm->duration[slot], seconds);
}

void metrics_argon2(double wait_seconds)
{
	if (shm)
		hist_observe(&shm->argon2_wait, wait_seconds);
}

void metrics_login(enum metrics_login result)
{
	if (shm && result >= 0 && result < METRICS_LOGIN__COUNT)
		inc(&shm->logins[result]);
}

void metrics_refresh_rotation(void)
{
	if (shm)
		inc(&shm->rotations);
}

void metrics_refresh_reuse(void)
{
	if (shm)
		inc(&shm->reuses);
}

void metrics_token(enum metrics_token kind)
{
	if (shm && kind >= 0 && kind < METRICS_TOKEN__COUNT)
		inc(&shm->tokens[kind]);
}

void metrics_workers(int n)
{
	if (shm)
		atomic_store_explicit(&shm->workers, n, memory_order_relaxed);
}

/* A label value with \, " and newline escaped (the format's rules). */
static void put_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* The HELP and TYPE lines of a family. */
static void put_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample's name and its labels up to (not including) the closing brace:
 * name{service="...". */
static void put_open(FILE *f, const char *name)
{
	fprintf(f, "%s{service=\"", name);
	put_label(f, svc_name);
	fputc('"', f);
}

/* The route and method labels of slot (",route=\"...\",method=\"...\""). */
static void put_route(FILE *f, size_t slot)
{
	const char *method;

	fputs(",route=\"", f);
	if (slot < svc_nroutes) {
		put_label(f, svc_routes[slot].path);
		if (svc_routes[slot].prefix)
			fputc('*', f);
		method = svc_routes[slot].method;
	} else {
		fputs("other", f);
		method = methods[slot - METRICS_ROUTES_MAX];
	}
	fputs("\",method=\"", f);
	put_label(f, method);
	fputc('"', f);
}

/* The samples of one histogram: name_bucket (cumulative, +Inf the count),
 * name_sum, name_count; slot >= 0 adds that route's labels. */
static void put_hist(FILE *f, const char *name, struct hist *h, long slot)
{
	uint64_t n[NBOUND + 1], cum = 0;

	for (size_t i = 0; i <= NBOUND; i++)
		n[i] = get(&h->bucket[i]);
	for (size_t i = 0; i <= NBOUND; i++) {
		cum += n[i];
		fprintf(f, "%s_bucket", name);
		put_open(f, "");
		if (slot >= 0)
			put_route(f, (size_t)slot);
		fprintf(f, ",le=\"%s\"} %llu\n", i < NBOUND ? bound_text[i] : "+Inf",
			(unsigned long long)cum);
	}
	fprintf(f, "%s_sum", name);
	put_open(f, "");
	if (slot >= 0)
		put_route(f, (size_t)slot);
	fprintf(f, "} %.9f\n", (double)get(&h->sum_ns) / 1e9);
	fprintf(f, "%s_count", name);
	put_open(f, "");
	if (slot >= 0)
		put_route(f, (size_t)slot);
	fprintf(f, "} %llu\n", (unsigned long long)cum);
}

/* Total observations of a histogram. */
static uint64_t hist_count(struct hist *h)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= NBOUND; i++)
		n += get(&h->bucket[i]);
	return n;
}

/* One labelled counter or gauge sample: name{service,label="value"} v. */
static void put_one(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	put_open(f, name);
	if (label)
		fprintf(f, ",%s=\"%s\"", label, value);
	fprintf(f, "} %llu\n", (unsigned long long)v);
}

/* The HTTP families: requests by route, method and status (non-zero only),
 * durations (every route of the table, "other" once used). */
static void render_http(FILE *f)
{
	put_head(f, "magenta_http_requests_total", "counter",
		 "HTTP requests answered, by route, method and status.");
	for (size_t s = 0; s < NSLOT; s++) {
		if (s >= svc_nroutes && s < METRICS_ROUTES_MAX)
			continue;
		for (size_t i = 0; i < NSTATUS; i++) {
			uint64_t v = get(&shm->requests[s][i]);
			char code[8];

			if (!v)
				continue;
			if (i < NSTATUS - 1)
				snprintf(code, sizeof(code), "%d", statuses[i]);
			else
				snprintf(code, sizeof(code), "other");
			put_open(f, "magenta_http_requests_total");
			put_route(f, s);
			fprintf(f, ",status=\"%s\"} %llu\n", code, (unsigned long long)v);
		}
	}
	put_head(f, "magenta_http_request_duration_seconds", "histogram",
		 "Time from a request's start to its answer, by route and method.");
	for (size_t s = 0; s < NSLOT; s++) {
		if (s >= svc_nroutes &&
		    (s < METRICS_ROUTES_MAX || hist_count(&shm->duration[s]) == 0))
			continue;
		put_hist(f, "magenta_http_request_duration_seconds", &shm->duration[s], (long)s);
	}
}

/* The authentication service's own families. */
static void render_auth(FILE *f)
{
	static const char *const results[] = {"ok", "failed", "locked", "throttled"};
	static const char *const kinds[] = {"access", "refresh", "id"};

	put_head(f, "magenta_logins_total", "counter",
		 "Login attempts (JSON login and the OAuth password grant), by result.");
	for (size_t i = 0; i < METRICS_LOGIN__COUNT; i++)
		put_one(f, "magenta_logins_total", "result", results[i], get(&shm->logins[i]));
	put_head(f, "magenta_refresh_rotations_total", "counter",
		 "Refresh tokens rotated (each use gives a new one).");
	put_one(f, "magenta_refresh_rotations_total", NULL, NULL, get(&shm->rotations));
	put_head(
	    f, "magenta_refresh_reuse_detected_total", "counter",
	    "Used refresh tokens presented again after the grace period: their session revoked.");
	put_one(f, "magenta_refresh_reuse_detected_total", NULL, NULL, get(&shm->reuses));
	put_head(f, "magenta_tokens_issued_total", "counter", "Tokens issued, by kind.");
	for (size_t i = 0; i < METRICS_TOKEN__COUNT; i++)
		put_one(f, "magenta_tokens_issued_total", "kind", kinds[i], get(&shm->tokens[i]));
}

char *metrics_render(size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (!shm)
		return NULL;
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	render_http(f);
	put_head(f, "magenta_argon2_hashes_total", "counter",
		 "argon2id computations (hashes and verifications) for requests.");
	put_one(f, "magenta_argon2_hashes_total", NULL, NULL, hist_count(&shm->argon2_wait));
	put_head(f, "magenta_argon2_wait_seconds", "histogram",
		 "Time an argon2id computation waited for a free slot (argon2_concurrency).");
	put_hist(f, "magenta_argon2_wait_seconds", &shm->argon2_wait, -1);
	if (svc_flags & METRICS_AUTH)
		render_auth(f);
	put_head(f, "magenta_workers", "gauge", "Worker processes serving requests.");
	put_open(f, "magenta_workers");
	fprintf(f, "} %lld\n",
		(long long)atomic_load_explicit(&shm->workers, memory_order_relaxed));
	put_head(f, "magenta_start_time_seconds", "gauge",
		 "When the program started, seconds since the Unix epoch.");
	put_open(f, "magenta_start_time_seconds");
	fprintf(f, "} %lld\n", (long long)shm->start_time);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
