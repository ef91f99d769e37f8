/* hostlist: "host:port,host:port,[v6addr]:port" lists. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostlist.h"

/* Parse one entry s[0..len-1] (trimmed) into e; 0 or -1 with err. */
static int hostlist_entry_parse(const char *s, size_t len, struct hostlist_entry *e, char *err,
				size_t errlen)
{
	const char *host = s, *colon, *p;
	size_t hlen;
	long port = 0;

	if (len == 0) {
		snprintf(err, errlen, "empty entry");
		return -1;
	}
	if (*s == '[') {
		const char *close = memchr(s, ']', len);
		if (!close) {
			snprintf(err, errlen, "'%.*s': no ']' after the IPv6 address", (int)len, s);
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
		if (colon >= s + len || *colon != ':') {
			snprintf(err, errlen, "'%.*s': expected [address]:port", (int)len, s);
			return -1;
		}
	} else {
		colon = memchr(s, ':', len);
		if (!colon) {
			snprintf(err, errlen, "'%.*s': expected host:port", (int)len, s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (memchr(colon + 1, ':', len - hlen - 1)) {
			snprintf(err, errlen,
				 "'%.*s': an IPv6 address goes in brackets, [address]:port",
				 (int)len, s);
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(e->host)) {
		snprintf(err, errlen, "'%.*s': %s host", (int)len, s, hlen ? "too long a" : "no");
		return -1;
	}
	for (p = host; p < host + hlen; p++) {
		if (isspace((unsigned char)*p) || *p == '[' || *p == ']' || *p == ',') {
			snprintf(err, errlen, "'%.*s': bad character in the host", (int)len, s);
			return -1;
		}
	}
	p = colon + 1;
	if (p >= s + len) {
		snprintf(err, errlen, "'%.*s': no port", (int)len, s);
		return -1;
	}
	for (; p < s + len; p++) {
		if (!isdigit((unsigned char)*p) || port > 65535) {
			snprintf(err, errlen, "'%.*s': the port is not a number 1..65535", (int)len,
				 s);
			return -1;
		}
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535) {
		snprintf(err, errlen, "'%.*s': the port is not a number 1..65535", (int)len, s);
		return -1;
	}
	memcpy(e->host, host, hlen);
	e->host[hlen] = '\0';
	e->port = (int)port;
	return 0;
}

/* Split on commas, trim, parse each entry. */
int hostlist_parse(const char *spec, struct hostlist_entry *out, int max, char *err, size_t errlen)
{
	const char *p = spec;
	int n = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		const char *end = strchr(p, ','), *b, *e;

		if (!end)
			end = p + strlen(p);
		for (b = p; b < end && isspace((unsigned char)*b); b++)
			;
		for (e = end; e > b && isspace((unsigned char)e[-1]); e--)
			;
		if (n == max) {
			snprintf(err, errlen, "more than %d entries", max);
			return -1;
		}
		if (hostlist_entry_parse(b, (size_t)(e - b), &out[n], err, errlen) != 0)
			return -1;
		n++;
		if (*end == '\0')
			return n;
		p = end + 1;
	}
}
