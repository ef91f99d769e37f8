/* fuzz_http: what lib/http.c reads of a request before any handler runs,
 * without a live FastCGI connection: http_req_begin (the path from
 * REQUEST_URI, X-Request-Id kept only when sane), Content-Type matching and
 * the Bearer token of Authorization, over a parameter block built from the
 * input.
 *
 * The input is split at newlines into REQUEST_URI, X-Request-Id,
 * Content-Type and Authorization (missing ones absent).  Properties: the
 * path is REQUEST_URI up to '?' (or "" when too long), the request id is
 * 1-64 of [A-Za-z0-9._-] (the client's or a fresh one), a Bearer token
 * lies within its header and carries no blank at either end. */
#include "config.h"

#include <ctype.h>

#include "fuzz.h"
#include "http.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* "NAME=value" in a fresh string, or NULL when out of memory. */
static char *param(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s=%s", name, value);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"REQUEST_URI", "HTTP_X_REQUEST_ID", "CONTENT_TYPE",
					    "HTTP_AUTHORIZATION"};
	char *buf = fuzz_cstr(data, size), *part, *envp[8] = {0};
	const char *auth = NULL, *uri = "", *tok;
	struct http_req r;
	size_t n = 0, len, plen;
	int rc;

	if (!buf)
		return 0;
	part = buf;
	for (size_t i = 0; i < 4 && part; i++) {
		char *nl = strchr(part, '\n');

		if (nl)
			*nl = '\0';
		if (!(envp[n++] = param(names[i], part)))
			goto out;
		if (i == 0)
			uri = part;
		if (i == 3)
			auth = part;
		part = nl ? nl + 1 : NULL;
	}
	envp[n++] = param("REQUEST_METHOD", "POST");
	if (!envp[n - 1])
		goto out;

	memset(&r, 0, sizeof(r));
	r.fcgx.envp = envp;
	http_req_begin(&r);
	plen = strcspn(uri, "?");
	if (plen < sizeof(r.path))
		FUZZ_CHECK(strlen(r.path) == plen && memcmp(r.path, uri, plen) == 0);
	else
		FUZZ_CHECK(r.path[0] == '\0');
	len = strlen(r.id);
	FUZZ_CHECK(len >= 1 && len <= 64);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(isalnum((unsigned char)r.id[i]) || strchr("-_.", r.id[i]));
	FUZZ_CHECK(strcmp(r.method, "POST") == 0 && r.content_type && r.remote_addr);
	(void)http_content_type_is_json(r.content_type);

	rc = http_bearer_token(&r, &tok, &len);
	if (!auth || !*auth)
		FUZZ_CHECK(rc == 1);
	if (rc == 0) {
		const char *h = http_param(&r, "HTTP_AUTHORIZATION");

		FUZZ_CHECK(tok >= h && tok + len <= h + strlen(h));
		FUZZ_CHECK(len == 0 ||
			   (tok[0] != ' ' && tok[len - 1] != ' ' && tok[len - 1] != '\t'));
	}
	log_set_request_id(NULL);
out:
	for (size_t i = 0; i < n; i++)
		free(envp[i]);
	free(buf);
	return 0;
}
