/* devicetoken: the device token's cookie, written and read back. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "devicetoken.h"

/* One Set-Cookie line; the attributes keep the token away from scripts
 * (HttpOnly), plain HTTP (Secure), other sites' requests (SameSite) and
 * every endpoint but the login (Path). */
int devicetoken_set_cookie(char *out, size_t outlen, const char token[REFRESH_STRLEN + 1],
			   long max_age)
{
	int n;

	if (max_age <= 0)
		return -1;
	n = snprintf(out, outlen,
		     "Set-Cookie: " DEVICETOKEN_COOKIE "=%s; Max-Age=%ld; Path=" DEVICETOKEN_PATH
		     "; Secure; HttpOnly; SameSite=Strict\r\n",
		     token, max_age);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Walk "name=value; name=value" (RFC 6265 section 4.2.1, with the
 * leniency of real clients about spaces); the first magenta_device value
 * that decodes as a token wins. */
int devicetoken_from_cookie(const char *header, unsigned char raw[REFRESH_RAWBYTES])
{
	static const char name[] = DEVICETOKEN_COOKIE;
	const char *p = header, *end, *eq;

	if (!p)
		return -1;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			const char *n_end = eq, *v = eq + 1, *v_end = end;

			while (n_end > p && (n_end[-1] == ' ' || n_end[-1] == '\t'))
				n_end--;
			while (v < v_end && (*v == ' ' || *v == '\t'))
				v++;
			while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
				v_end--;
			if ((size_t)(n_end - p) == sizeof(name) - 1 &&
			    memcmp(p, name, sizeof(name) - 1) == 0 &&
			    refresh_parse(v, (size_t)(v_end - v), raw) == 0)
				return 0;
		}
		p = end;
	}
	return -1;
}
