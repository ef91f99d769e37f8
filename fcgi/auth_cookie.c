/* auth_cookie: the refresh token as the cookie magenta_refresh (config
 * refresh_cookie), for browser pages, and the Origin check that guards the
 * requests it authenticates (refresh, logout) against cross-site forgery:
 * SameSite=Strict already keeps other sites' requests from carrying it;
 * the Origin check is the second lock (older browsers, sibling sites). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "conf.h"
#include "cookie.h"
#include "log.h"

int auth_refresh_cookie_line(char *out, size_t outlen, const char *refresh, long max_age,
			     int persistent)
{
	if (!refresh || !*refresh)
		return cookie_set_line(out, outlen, AUTH_REFRESH_COOKIE, "", AUTH_REFRESH_PATH, 0);
	/* without rememberMe the token outlives the browser session only in
	 * the database: the browser forgets it when it closes, as the user
	 * asked by not ticking "remember me" */
	if (!persistent)
		return cookie_set_session_line(out, outlen, AUTH_REFRESH_COOKIE, refresh,
					       AUTH_REFRESH_PATH);
	return cookie_set_line(out, outlen, AUTH_REFRESH_COOKIE, refresh, AUTH_REFRESH_PATH,
			       max_age > 0 ? max_age : 0);
}

int auth_refresh_cookie_present(struct http_req *r)
{
	const char *v;
	size_t len;

	return conf_bool(CONF_REFRESH_COOKIE) &&
	       cookie_next(http_param(r, "HTTP_COOKIE"), AUTH_REFRESH_COOKIE, &v, &len) != NULL;
}

int auth_refresh_cookie_get(struct http_req *r, const char **next, const char **tok, size_t *len)
{
	const char *origin = http_param(r, "HTTP_ORIGIN");

	*next = cookie_next(http_param(r, "HTTP_COOKIE"), AUTH_REFRESH_COOKIE, tok, len);
	if (!*next)
		return -1;
	if (!cookie_origin_allowed(conf_str(CONF_REFRESH_COOKIE_ORIGINS), origin)) {
		char q[104];

		/* the origin is the browser's, not a secret: logged (quoted,
		 * escaped, bounded: any client can send any bytes) for the
		 * operator who forgot an origin in refresh_cookie_origins */
		log_warnx("event=cookie_refused reason=origin path=%s origin=%s", r->path,
			  log_q(q, sizeof(q), origin ? origin : ""));
		http_error(r, 403, "forbidden_origin",
			   "A request authenticated by the refresh cookie must come from an "
			   "allowed Origin.",
			   NULL);
		return -2;
	}
	return 0;
}

int auth_refresh_cookie_next(const char **next, const char **tok, size_t *len)
{
	const char *p = cookie_next(*next, AUTH_REFRESH_COOKIE, tok, len);

	if (!p)
		return -1;
	*next = p;
	return 0;
}
