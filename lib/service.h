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
	unsigned conf_for; /* the program's CONF_FOR_* bit: the keys it reads */
};

/* Parse argv (-f FILE, -l ADDR, -t, --help, --sample-config), load the
 * configuration, call init, then serve requests until SIGTERM/SIGINT.
 * Returns the process exit status. */
int service_main(const struct service *svc, int argc, char **argv);

#endif
