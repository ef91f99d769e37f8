/* cookie: HTTP cookies, both ways (RFC 6265), and the Origin check that
 * guards a request authenticated by a cookie against cross-site request
 * forgery.
 *
 * The cookies Magenta sets are all HttpOnly (out of reach of page
 * scripts), Secure (HTTPS only), SameSite=Strict (not sent with requests
 * other sites start) and scoped by Path to the endpoints that read them. */
#ifndef MAGENTA_COOKIE_H
#define MAGENTA_COOKIE_H

#include <stddef.h>

/* The header line "Set-Cookie: NAME=VALUE; Max-Age=MAX_AGE; Path=PATH;
 * Secure; HttpOnly; SameSite=Strict\r\n" into out (outlen bytes; wipe it
 * after use when value is a secret).  max_age 0 with value "" removes the
 * cookie.  0, or -1 when it does not fit or max_age is negative. */
int cookie_set_line(char *out, size_t outlen, const char *name, const char *value, const char *path,
		    long max_age) __attribute__((warn_unused_result));

/* The same line without Max-Age: a session cookie, which the browser
 * drops when it closes.  0, or -1 when it does not fit. */
int cookie_set_session_line(char *out, size_t outlen, const char *name, const char *value,
			    const char *path) __attribute__((warn_unused_result));

/* The next cookie named name in a Cookie request header, from p on
 * (header, or what the previous call returned): *val and *len are its
 * value (not NUL-terminated, blanks around it dropped), and the return is
 * where to go on from; NULL when there is no more (p NULL too).  The
 * pairs are "name=value" separated by ';' with the leniency of real
 * clients about blanks; a pair without '=' is passed over. */
const char *cookie_next(const char *p, const char *name, const char **val, size_t *len);

/* 1 when origin (a request's Origin header, may be NULL) is one of the
 * space-separated origins of allowed, compared exactly (byte for byte, as
 * browsers serialize an origin: scheme://host[:port], lower case, no
 * path); 0 otherwise, and always for an absent or "null" origin. */
int cookie_origin_allowed(const char *allowed, const char *origin);

/* 0 when every space-separated entry of list is an origin as browsers
 * send it: "http://" or "https://", then a lower-case host name, an IPv4
 * address or a [bracketed] IPv6 one, an optional :port, nothing after;
 * -1 with err naming the first bad entry. */
int cookie_origins_check(const char *list, char *err, size_t errlen);

#endif
