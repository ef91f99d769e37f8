/* service: the main of a FastCGI program: options, configuration, logging,
 * the socket and the accept loop over a route table. */
#ifndef MAGENTA_SERVICE_H
#define MAGENTA_SERVICE_H

#include <stddef.h>

#include "http.h"

struct service {
	const char *name; /* "registration": log service and program name suffix */
	const struct http_route *routes;
	size_t nroutes;
	/* Called once after the configuration is loaded; 0, or -1 with err. */
	int (*init)(char *err, size_t errlen);
};

/* Parse argv (-f FILE, -l ADDR, -t, --help, --sample-config), load the
 * configuration, call init, then serve requests until SIGTERM/SIGINT.
 * Returns the process exit status. */
int service_main(const struct service *svc, int argc, char **argv);

/* The request being handled is CPU-bound (an argon2id hash): its worker
 * runs as SCHED_BATCH until the request is answered, so that its own
 * wake-ups (PostgreSQL's replies) wait for the next tick instead of
 * preempting another worker's hash.  The worker's policy is restored
 * after the request; a worker not started as SCHED_OTHER is left alone. */
void service_cpu_bound(void);

#endif
