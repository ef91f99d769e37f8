/* metrics_listen: the daemons' own tiny HTTP endpoint, GET /metrics on
 * relay_metrics_listen / consumer_metrics_listen (docs/operations.md,
 * "Daemon metrics").
 *
 * Single-threaded and never blocking: the daemon's loop adds the sockets
 * to its poll (metrics_listen_pollfds) or simply calls metrics_listen_serve
 * at least once a second; each call accepts what is waiting, reads what
 * has arrived and writes what the socket takes.  A request is at most
 * METRICS_LISTEN_REQ_MAX bytes of head (no body), a connection lives at
 * most METRICS_LISTEN_TIMEOUT_MS, at most METRICS_LISTEN_CONNS are served
 * at once (the others wait in the kernel's backlog), and every connection
 * is closed after its one reply: a slow or hostile client costs a slot
 * for three seconds, never the pipeline's time.
 *
 * GET (or HEAD) /metrics answers 200 with the render callback's text as
 * text/plain; version=0.0.4; any other path 404, any other method 405,
 * a head too long 431, a malformed one 400.  There is no access control:
 * the address must be private to the host (loopback) or a monitoring
 * network. */
#ifndef MAGENTA_METRICS_LISTEN_H
#define MAGENTA_METRICS_LISTEN_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>

#define METRICS_LISTEN_CONNS 4
#define METRICS_LISTEN_REQ_MAX 2048
#define METRICS_LISTEN_TIMEOUT_MS 3000
/* The most pollfds metrics_listen_pollfds fills. */
#define METRICS_LISTEN_FDS (1 + METRICS_LISTEN_CONNS)

/* Parse spec, "ADDRESS:PORT" with a numeric IPv4 address or
 * "[IPv6]:PORT", port 1..65535, no names (no resolver at start-up), into
 * *sa and *salen.  1 parsed, 0 spec is empty (off), -1 with err saying
 * what is wrong. */
int metrics_listen_parse(const char *spec, struct sockaddr_storage *sa, socklen_t *salen, char *err,
			 size_t errlen);

/* The text to serve: malloc'ed, *len its length, freed by the caller;
 * NULL when out of memory (answered 500). */
typedef char *(*metrics_render_fn)(size_t *len);

/* Listen on spec (the configured key's value) and serve render's text;
 * an empty spec does nothing.  0, or -1 logged (a bad spec, an address in
 * use: the caller stops at start-up). */
int metrics_listen_open(const char *spec, metrics_render_fn render)
    __attribute__((warn_unused_result));

/* Add the sockets to wait for (the listener, each connection for reading
 * or writing) to fds[0..max-1]; the number added (0 when off). */
int metrics_listen_pollfds(struct pollfd *fds, int max);

/* 1 while a connection is being served: the caller should come back soon
 * (within tens of ms) rather than wait its full period. */
int metrics_listen_busy(void);

/* Serve without blocking: accept, read, reply, close what timed out. */
void metrics_listen_serve(void);

/* Close the listener and every connection. */
void metrics_listen_close(void);

#endif
