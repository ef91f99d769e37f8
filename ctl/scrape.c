/* scrape: read a daemon's metrics (scrape.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "metrics_listen.h"
#include "scrape.h"

/* The most text read from a daemon: its metrics are a few kB. */
#define SCRAPE_MAX (256 * 1024)

/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	uint64_t now = clock_mono_ms();
	int rc;

	if (now >= deadline)
		return 0;
	rc = poll(&p, 1, (int)(deadline - now));
	if (rc < 0 && errno == EINTR)
		return wait_fd(fd, events, deadline);
	return rc;
}

/* The samples of a 0.0.4 text into o: "name{labels} value [ts]". */
static void parse_text(struct json_object *o, char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char name[128], *sp;
		size_t n = strcspn(line, "{ ");
		struct json_object *old;
		double v;

		if (line[0] == '#' || n == 0 || n >= sizeof(name))
			continue;
		memcpy(name, line, n);
		name[n] = '\0';
		sp = strrchr(line, '}');
		sp = strchr(sp ? sp : line + n, ' ');
		if (!sp)
			continue;
		v = strtod(sp + 1, NULL);
		if (json_object_object_get_ex(o, name, &old))
			v += json_object_get_double(old);
		json_object_object_add(o, name, json_object_new_double(v));
	}
}

struct json_object *scrape_metrics(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: magenta\r\n\r\n";
	struct sockaddr_storage sa;
	socklen_t salen;
	uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
	char *buf = NULL, *body;
	size_t len = 0;
	struct json_object *o = NULL;
	int fd = -1, rc;

	if (metrics_listen_parse(spec, &sa, &salen, err, errlen) != 1) {
		snprintf(err, errlen, "no address");
		return NULL;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, salen) != 0) {
		int e = 0;
		socklen_t el = sizeof(e);
		if (errno != EINPROGRESS)
			goto fail;
		if (wait_fd(fd, POLLOUT, deadline) <= 0) {
			snprintf(err, errlen, "%s: no answer in %d ms", spec, timeout_ms);
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
			errno = e;
			goto fail;
		}
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
		goto fail;
	buf = malloc(SCRAPE_MAX + 1);
	if (!buf)
		goto fail;
	for (;;) {
		ssize_t n;

		rc = wait_fd(fd, POLLIN, deadline);
		if (rc <= 0) {
			snprintf(err, errlen, "%s: no answer in %d ms", spec, timeout_ms);
			goto out;
		}
		n = read(fd, buf + len, SCRAPE_MAX - len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			goto fail;
		if (n == 0 || (len += (size_t)n) == SCRAPE_MAX)
			break;
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || !(body = strstr(buf, "\r\n\r\n"))) {
		buf[strcspn(buf, "\r\n")] = '\0';
		snprintf(err, errlen, "%s: %.40s", spec, buf[0] ? buf : "no reply");
		goto out;
	}
	o = json_object_new_object();
	parse_text(o, body + 4);
	goto out;
fail:
	snprintf(err, errlen, "%s: %s", spec, strerror(errno));
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return o;
}
