/* service: the main of a FastCGI program: options, configuration, logging,
 * the socket, the accept loop over a route table, and with -p N the
 * supervisor of N workers.
 *
 * Signals (docs/deployment.md, "Signals"):
 *   TERM, INT  stop: each worker finishes the request in hand and exits;
 *              with -p, one still busy after fcgi_stop_grace seconds is
 *              killed (SIGKILL); exit 0.
 *   HUP        reload: the configuration file is read again and init run
 *              again, first in a throw-away child (a failure is logged as
 *              event=reload_failed and changes nothing), then for real;
 *              with -p the workers are then replaced one at a time, each
 *              new one started before the old one is told to stop; a
 *              single process reloads itself between two requests.
 *   USR1       reopen log_file (after rotation). */
#ifndef MAGENTA_SERVICE_H
#define MAGENTA_SERVICE_H

#include <stddef.h>

#include "http.h"

struct service {
	const char *name; /* "registration": log service and program name suffix */
	const struct http_route *routes;
	size_t nroutes;
	/* Called after the configuration is loaded, at start and at each
	 * reload (after release); 0, or -1 with err. */
	int (*init)(char *err, size_t errlen);
	/* Frees what init made, before init runs again; NULL: nothing. */
	void (*release)(void);
	unsigned conf_for; /* the program's CONF_FOR_* bit: the keys it reads */
};

/* Parse argv (-f FILE, -l ADDR, -p N, -t, --help, --version,
 * --sample-config), load the configuration, call init, then serve requests
 * until SIGTERM/SIGINT.  Returns the process exit status. */
int service_main(const struct service *svc, int argc, char **argv);

#endif
