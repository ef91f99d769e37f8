/* metrics_route: the metrics endpoint of both FastCGI programs (h_metrics,
 * metrics.h) and who may read it (metrics_allow). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "clientaddr.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"

/* The addresses metrics_allow lets in; NULL before configuration. */
static struct clientaddr_list *allow;

int metrics_allow_configure(char *err, size_t errlen)
{
	char why[256];
	struct clientaddr_list *l =
	    clientaddr_list_parse(conf_str(CONF_METRICS_ALLOW), why, sizeof(why));

	if (!l) {
		snprintf(err, errlen, "key 'metrics_allow': %s", why);
		return -1;
	}
	clientaddr_list_free(allow);
	allow = l;
	return 0;
}

void metrics_allow_release(void)
{
	clientaddr_list_free(allow);
	allow = NULL;
}

/* GET .../metrics: the text to an allowed address. */
void h_metrics(struct http_req *r)
{
	size_t len = 0;
	char *text, q[96];

	/* the web server is the gate (lighttpd/magenta.conf, apache/); this
	 * is the second lock, for a server configured without it */
	if (!allow || !clientaddr_trusted(allow, r->remote_addr)) {
		log_info("event=metrics_refused addr=%s", log_q(q, sizeof(q), r->remote_addr));
		http_error(r, 403, "forbidden", "Forbidden.", NULL);
		return;
	}
	text = metrics_render(&len);
	if (!text) {
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		return;
	}
	http_reply_plain(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}
