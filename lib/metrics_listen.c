/* metrics_listen: GET /metrics of the daemons (metrics_listen.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics_listen.h"

/* One connection: its request head as it arrives, then its reply. */
struct conn {
	int fd; /* -1: a free slot */
	uint64_t deadline_ms;
	char req[METRICS_LISTEN_REQ_MAX + 1];
	size_t len;
	char *out; /* the reply once decided */
	size_t out_len, out_off;
};

static int lfd = -1;
static metrics_render_fn render_fn;
static struct conn conns[METRICS_LISTEN_CONNS];

int metrics_listen_parse(const char *spec, struct sockaddr_storage *sa, socklen_t *salen, char *err,
			 size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = spec;
	size_t hlen;
	long port;
	char *end;

	memset(sa, 0, sizeof(*sa));
	*salen = 0;
	if (!spec || !*spec)
		return 0;
	if (*spec == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "'%s' is not [IPv6]:PORT", spec);
			return -1;
		}
		h = spec + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon) {
			snprintf(err, errlen, "'%s' has no :PORT", spec);
			return -1;
		}
		hlen = (size_t)(colon - spec);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "'%s' has no address (a numeric one: 127.0.0.1, [::1])",
			 spec);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || port < 1 || port > 65535 ||
	    colon[1] == '+' || colon[1] == '-' || colon[1] == ' ') {
		snprintf(err, errlen, "'%s': the port must be 1..65535", spec);
		return -1;
	}
	if (*spec == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv6 address", host);
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			snprintf(err, errlen,
				 "'%s' is not a numeric IPv4 address ([addr] for IPv6)", host);
			return -1;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
	}
	return 1;
}

int metrics_listen_open(const char *spec, metrics_render_fn render)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char err[300], q[340];
	int one = 1, rc;

	rc = metrics_listen_parse(spec, &sa, &salen, err, sizeof(err));
	if (rc <= 0) {
		if (rc < 0)
			log_error("event=metrics_listen_failed reason=%s",
				  log_q(q, sizeof(q), err));
		return rc;
	}
	for (size_t i = 0; i < METRICS_LISTEN_CONNS; i++)
		conns[i].fd = -1;
	lfd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, salen) != 0 || listen(lfd, 16) != 0) {
		log_warn("event=metrics_listen_failed listen=%s", log_q(q, sizeof(q), spec));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		return -1;
	}
	render_fn = render;
	log_info("event=metrics_listening listen=%s", log_q(q, sizeof(q), spec));
	return 0;
}

/* Free a slot. */
static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->len = c->out_len = c->out_off = 0;
}

/* Set c's reply: status line, headers, body (NULL: none). */
static void conn_reply(struct conn *c, const char *status, const char *extra, const char *type,
		       const char *body, size_t body_len)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, type, body_len, extra ? extra : "");

	c->out = malloc((size_t)n + (body ? body_len : 0));
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (body)
		memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + (body ? body_len : 0);
	c->out_off = 0;
}

/* An error reply with a one-line text body. */
static void conn_error(struct conn *c, const char *status, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	conn_reply(c, status, extra, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Decide the reply to a complete head. */
static void conn_answer(struct conn *c)
{
	char method[8], target[64], version[16];
	int head_only;

	/* the request line: METHOD SP TARGET SP HTTP/1.x */
	c->req[strcspn(c->req, "\r\n")] = '\0';
	if (sscanf(c->req, "%7s %63s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		conn_error(c, "400 Bad Request", NULL);
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only) {
		conn_error(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	if (strcmp(target, "/metrics") != 0) {
		conn_error(c, "404 Not Found", NULL);
		return;
	}
	{
		size_t len = 0;
		char *text = render_fn ? render_fn(&len) : NULL;

		if (!text) {
			conn_error(c, "500 Internal Server Error", NULL);
			return;
		}
		/* HEAD: the headers of the GET, Content-Length included */
		conn_reply(c, "200 OK", NULL, "text/plain; version=0.0.4; charset=utf-8",
			   head_only ? NULL : text, len);
		free(text);
	}
}

/* Read what arrived; answer once the head is complete. */
static void conn_read(struct conn *c)
{
	ssize_t n = read(c->fd, c->req + c->len, METRICS_LISTEN_REQ_MAX - c->len);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		conn_answer(c);
	else if (c->len == METRICS_LISTEN_REQ_MAX)
		conn_error(c, "431 Request Header Fields Too Large", NULL);
}

/* Write what the socket takes; close when all is sent. */
static void conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len)
		conn_close(c); /* one reply per connection */
}

int metrics_listen_pollfds(struct pollfd *fds, int max)
{
	int n = 0;

	if (lfd < 0 || max < 1)
		return 0;
	fds[n].fd = lfd;
	fds[n++].events = POLLIN;
	for (size_t i = 0; i < METRICS_LISTEN_CONNS && n < max; i++) {
		if (conns[i].fd < 0)
			continue;
		fds[n].fd = conns[i].fd;
		fds[n++].events = conns[i].out ? POLLOUT : POLLIN;
	}
	return n;
}

int metrics_listen_busy(void)
{
	for (size_t i = 0; lfd >= 0 && i < METRICS_LISTEN_CONNS; i++)
		if (conns[i].fd >= 0)
			return 1;
	return 0;
}

void metrics_listen_serve(void)
{
	uint64_t now;

	if (lfd < 0)
		return;
	now = clock_mono_ms();
	/* new connections into free slots; the rest wait in the backlog */
	for (size_t i = 0; i < METRICS_LISTEN_CONNS; i++) {
		int fd;

		if (conns[i].fd >= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break; /* EAGAIN: none waiting; anything else: next time */
		conns[i].fd = fd;
		conns[i].deadline_ms = now + METRICS_LISTEN_TIMEOUT_MS;
		conns[i].len = 0;
	}
	for (size_t i = 0; i < METRICS_LISTEN_CONNS; i++) {
		struct conn *c = &conns[i];

		if (c->fd < 0)
			continue;
		if (now >= c->deadline_ms) {
			conn_close(c);
			continue;
		}
		if (!c->out)
			conn_read(c);
		if (c->fd >= 0 && c->out)
			conn_write(c);
	}
}

void metrics_listen_close(void)
{
	if (lfd < 0)
		return;
	for (size_t i = 0; i < METRICS_LISTEN_CONNS; i++)
		conn_close(&conns[i]);
	close(lfd);
	lfd = -1;
}
