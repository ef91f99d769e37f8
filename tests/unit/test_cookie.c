/* Unit tests: Set-Cookie lines, Cookie headers read back, the Origin check. */
#include "config.h"

#include <string.h>

#include "cookie.h"
#include "t.h"

/* The value of the n-th (from 0) cookie name in header, or "(none)". */
static const char *nth(const char *header, const char *name, int n)
{
	static char out[128];
	const char *p = header, *v;
	size_t len;

	for (int i = 0; (p = cookie_next(p, name, &v, &len)) != NULL; i++)
		if (i == n) {
			snprintf(out, sizeof(out), "%.*s", (int)len, v);
			return out;
		}
	return "(none)";
}

int main(void)
{
	char line[160], err[256];

	/* Set-Cookie: the attributes, removal, limits */
	CHECK(cookie_set_line(line, sizeof(line), "magenta_refresh", "abc", "/api/auth/", 60) == 0);
	CHECK(strcmp(line, "Set-Cookie: magenta_refresh=abc; Max-Age=60; Path=/api/auth/; Secure; "
			   "HttpOnly; SameSite=Strict\r\n") == 0);
	CHECK(cookie_set_line(line, sizeof(line), "magenta_refresh", "", "/api/auth/", 0) == 0);
	CHECK(strcmp(line, "Set-Cookie: magenta_refresh=; Max-Age=0; Path=/api/auth/; Secure; "
			   "HttpOnly; SameSite=Strict\r\n") == 0);
	CHECK(cookie_set_line(line, 40, "magenta_refresh", "abc", "/api/auth/", 60) == -1);
	CHECK(cookie_set_line(line, sizeof(line), "a", "b", "/", -1) == -1);
	/* a session cookie: no Max-Age */
	CHECK(cookie_set_session_line(line, sizeof(line), "magenta_refresh", "abc", "/api/auth/") ==
	      0);
	CHECK(strcmp(line, "Set-Cookie: magenta_refresh=abc; Path=/api/auth/; Secure; HttpOnly; "
			   "SameSite=Strict\r\n") == 0);
	CHECK(cookie_set_session_line(line, 40, "magenta_refresh", "abc", "/api/auth/") == -1);

	/* Cookie: every shape real clients send */
	CHECK(strcmp(nth("magenta_refresh=tok", "magenta_refresh", 0), "tok") == 0);
	CHECK(strcmp(nth("a=1; magenta_refresh=tok; b=2", "magenta_refresh", 0), "tok") == 0);
	CHECK(strcmp(nth("a=1;magenta_refresh = tok ;b=2", "magenta_refresh", 0), "tok") == 0);
	CHECK(strcmp(nth(" \tmagenta_refresh=\ttok\t", "magenta_refresh", 0), "tok") == 0);
	CHECK(strcmp(nth("magenta_refresh=", "magenta_refresh", 0), "") == 0);
	CHECK(strcmp(nth("magenta_refresh=one; magenta_refresh=two", "magenta_refresh", 1),
		     "two") == 0);
	/* names compare whole and exactly */
	CHECK(strcmp(nth("xmagenta_refresh=bad", "magenta_refresh", 0), "(none)") == 0);
	CHECK(strcmp(nth("magenta_refreshx=bad", "magenta_refresh", 0), "(none)") == 0);
	CHECK(strcmp(nth("Magenta_Refresh=bad", "magenta_refresh", 0), "(none)") == 0);
	/* a pair without '=' is passed over, not taken for the name */
	CHECK(strcmp(nth("magenta_refresh; magenta_refresh=ok", "magenta_refresh", 0), "ok") == 0);
	CHECK(strcmp(nth("", "magenta_refresh", 0), "(none)") == 0);
	CHECK(strcmp(nth(";;; ;", "magenta_refresh", 0), "(none)") == 0);
	CHECK(cookie_next(NULL, "magenta_refresh", &(const char *){NULL}, &(size_t){0}) == NULL);
	/* the value keeps '=' (base64 padding) */
	CHECK(strcmp(nth("k=a=b==; z=1", "k", 0), "a=b==") == 0);

	/* Origin: exact members of the list only */
	const char *list = "https://localhost:7001 https://127.0.0.1:7001  https://app.example.com";
	CHECK(cookie_origin_allowed(list, "https://localhost:7001") == 1);
	CHECK(cookie_origin_allowed(list, "https://127.0.0.1:7001") == 1);
	CHECK(cookie_origin_allowed(list, "https://app.example.com") == 1);
	CHECK(cookie_origin_allowed(list, "http://localhost:7001") == 0);
	CHECK(cookie_origin_allowed(list, "https://localhost:700") == 0);
	CHECK(cookie_origin_allowed(list, "https://localhost:70011") == 0);
	CHECK(cookie_origin_allowed(list, "https://app.example.com.evil.test") == 0);
	CHECK(cookie_origin_allowed(list, "https://evil.test") == 0);
	CHECK(cookie_origin_allowed(list, "https://localhost:7001 https://127.0.0.1:7001") == 0);
	CHECK(cookie_origin_allowed(list, "null") == 0);
	CHECK(cookie_origin_allowed(list, "") == 0);
	CHECK(cookie_origin_allowed(list, NULL) == 0);
	CHECK(cookie_origin_allowed("", "https://localhost:7001") == 0);

	/* the configured list's form */
	CHECK(cookie_origins_check("", err, sizeof(err)) == 0);
	CHECK(cookie_origins_check(list, err, sizeof(err)) == 0);
	CHECK(cookie_origins_check("http://[::1]:8080 https://a-b.c", err, sizeof(err)) == 0);
	CHECK(cookie_origins_check("https://localhost:7001/", err, sizeof(err)) == -1);
	CHECK(strstr(err, "'https://localhost:7001/'") != NULL);
	CHECK(cookie_origins_check("https://Example.com", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("localhost:7001", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("ftp://x", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://x:0", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://x:65536", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://x:", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://x/path", err, sizeof(err)) == -1);
	CHECK(cookie_origins_check("https://[]", err, sizeof(err)) == -1);
	return t_done();
}
