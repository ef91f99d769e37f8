/* cookie: Set-Cookie lines, Cookie headers read back, the Origin check. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

/* One Set-Cookie line with the attributes every Magenta cookie has. */
int cookie_set_line(char *out, size_t outlen, const char *name, const char *value, const char *path,
		    long max_age)
{
	int n;

	if (max_age < 0)
		return -1;
	n = snprintf(
	    out, outlen,
	    "Set-Cookie: %s=%s; Max-Age=%ld; Path=%s; Secure; HttpOnly; SameSite=Strict\r\n", name,
	    value, max_age, path);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* One Set-Cookie line with those attributes and no Max-Age. */
int cookie_set_session_line(char *out, size_t outlen, const char *name, const char *value,
			    const char *path)
{
	int n = snprintf(out, outlen,
			 "Set-Cookie: %s=%s; Path=%s; Secure; HttpOnly; SameSite=Strict\r\n", name,
			 value, path);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Walk "name=value; name=value" (RFC 6265 section 4.2.1). */
const char *cookie_next(const char *p, const char *name, const char **val, size_t *len)
{
	size_t nlen = strlen(name);
	const char *end, *eq;

	if (!p)
		return NULL;
	while (*p) {
		while (blank(*p) || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			const char *n_end = eq, *v = eq + 1, *v_end = end;

			while (n_end > p && blank(n_end[-1]))
				n_end--;
			while (v < v_end && blank(*v))
				v++;
			while (v_end > v && blank(v_end[-1]))
				v_end--;
			if ((size_t)(n_end - p) == nlen && memcmp(p, name, nlen) == 0) {
				*val = v;
				*len = (size_t)(v_end - v);
				return end;
			}
		}
		p = end;
	}
	return NULL;
}

/* Exact comparison against each entry: an origin has one serialization. */
int cookie_origin_allowed(const char *allowed, const char *origin)
{
	size_t olen;
	const char *p = allowed;

	if (!origin || !allowed || !*origin || strcmp(origin, "null") == 0)
		return 0;
	olen = strlen(origin);
	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == olen && memcmp(p, origin, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* One origin, n bytes at s: scheme, host, optional port, nothing else. */
static int origin_ok(const char *s, size_t n)
{
	const char *p, *end = s + n;

	if (n > 7 && memcmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (n > 8 && memcmp(s, "https://", 8) == 0)
		p = s + 8;
	else
		return 0;
	if (*p == '[') {
		const char *q = memchr(p, ']', (size_t)(end - p));

		if (!q || q == p + 1)
			return 0;
		for (const char *c = p + 1; c < q; c++)
			if (!strchr("0123456789abcdef:.", *c))
				return 0;
		p = q + 1;
	} else {
		const char *h = p;

		while (p < end && (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-", *p)))
			p++;
		if (p == h)
			return 0;
	}
	if (p < end && *p == ':') {
		long port;
		char buf[8];
		size_t pl = (size_t)(end - p - 1);

		if (pl == 0 || pl > 5)
			return 0;
		memcpy(buf, p + 1, pl);
		buf[pl] = '\0';
		if (strspn(buf, "0123456789") != pl)
			return 0;
		port = strtol(buf, NULL, 10);
		if (port < 1 || port > 65535)
			return 0;
		p = end;
	}
	return p == end;
}

int cookie_origins_check(const char *list, char *err, size_t errlen)
{
	const char *p = list;

	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n && !origin_ok(p, n)) {
			snprintf(
			    err, errlen,
			    "'%.*s' is not an origin (scheme://host[:port], lower case, no path)",
			    (int)(n > 200 ? 200 : n), p);
			return -1;
		}
		p += n;
	}
	return 0;
}
