/* devicetoken: the device token's cookie, written and read back. */
#include "config.h"

#include "cookie.h"
#include "devicetoken.h"

/* One Set-Cookie line; the attributes keep the token away from scripts
 * (HttpOnly), plain HTTP (Secure), other sites' requests (SameSite) and
 * every endpoint but the login (Path). */
int devicetoken_set_cookie(char *out, size_t outlen, const char token[REFRESH_STRLEN + 1],
			   long max_age)
{
	if (max_age <= 0)
		return -1;
	return cookie_set_line(out, outlen, DEVICETOKEN_COOKIE, token, DEVICETOKEN_PATH, max_age);
}

/* The first magenta_device value that decodes as a token wins. */
int devicetoken_from_cookie(const char *header, unsigned char raw[REFRESH_RAWBYTES])
{
	const char *p = header, *v;
	size_t len;

	while ((p = cookie_next(p, DEVICETOKEN_COOKIE, &v, &len)) != NULL)
		if (refresh_parse(v, len, raw) == 0)
			return 0;
	return -1;
}
