/* scrape: magentactl's reader of a daemon's GET /metrics
 * (relay_metrics_listen, consumer_metrics_listen; lib/metrics_listen.h). */
#ifndef MAGENTA_SCRAPE_H
#define MAGENTA_SCRAPE_H

#include <stddef.h>

#include <json-c/json.h>

/* GET http://spec/metrics within timeout_ms: a new object mapping each
 * sample name (labels dropped, values of the same name summed) to its
 * value; the caller puts it.  NULL with err filled when the daemon does
 * not answer 200 in time. */
struct json_object *scrape_metrics(const char *spec, int timeout_ms, char *err, size_t errlen);

#endif
