/* http: the FastCGI request: its parameters and lifecycle, routing, the
 * body (read through fcgi_wipe.c), Bearer tokens.  Replies are
 * http_reply.c's. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi_wipe.h"
#include "http.h"
#include "log.h"
#include "uuid7.h"
#include "validate.h"

/* A parameter, or "" */
static const char *param_or_empty(struct http_req *r, const char *name)
{
	const char *v = FCGX_GetParam(name, r->fcgx.envp);
	return v ? v : "";
}

/* A request header by CGI name. */
const char *http_param(struct http_req *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgx.envp);
}

/* Fill r from the FastCGI parameters. */
void http_req_begin(struct http_req *r)
{
	const char *uri = param_or_empty(r, "REQUEST_URI");
	const char *rid = param_or_empty(r, "HTTP_X_REQUEST_ID");
	size_t plen = strcspn(uri, "?");

	r->method = param_or_empty(r, "REQUEST_METHOD");
	r->content_type = param_or_empty(r, "CONTENT_TYPE");
	r->remote_addr = param_or_empty(r, "REMOTE_ADDR");
	if (plen < sizeof(r->path)) {
		memcpy(r->path, uri, plen);
		r->path[plen] = '\0';
	} else {
		r->path[0] = '\0';
	}
	if (log_request_id_ok(rid))
		snprintf(r->id, sizeof(r->id), "%s", rid);
	else
		uuid7_new(r->id);
	r->body = NULL;
	r->body_len = 0;
	r->status = 0;
	r->secret_reply = 0;
	log_set_request_id(r->id);
}

/* Finish with the input, release the body, wipe the parameters. */
void http_req_end(struct http_req *r)
{
	/* libfcgi closes a connection by shutting down its side, then waiting
	 * for the web server to close first, so that a close with input
	 * unread cannot reset a TCP connection before the server has read the
	 * answer.  With the input read to its end there is nothing to reset:
	 * close at once, and take the next request without that round trip
	 * (FCGX_Detach only marks the request so). */
	if (fcgi_input_drained(r->fcgx.in))
		FCGX_Detach(&r->fcgx);
	if (r->body) {
		/* the body may hold a password */
		sodium_memzero(r->body, r->body_len);
		free(r->body);
	}
	r->body = NULL;
	r->body_len = 0;
	/* libfcgi's copies of the parameters (an Authorization header) */
	for (char **e = r->fcgx.envp; e && *e; e++)
		sodium_memzero(*e, strlen(*e));
	log_set_request_id(NULL);
}

/* The web server's own error (REDIRECT_STATUS from server.error-handler
 * or ErrorDocument) answered in our JSON shape. */
static void error_document(struct http_req *r, int status)
{
	static const struct {
		int status;
		const char *code, *message;
	} map[] = {
		{ 400, "bad_request", "Malformed request." },
		{ 403, "forbidden", "Forbidden." },
		{ 404, "not_found", "No such resource." },
		{ 405, "method_not_allowed", "Method not allowed." },
		{ 408, "request_timeout", "Request timed out." },
		{ 411, "length_required", "Content-Length required." },
		{ 413, "payload_too_large", "Request body too large." },
		{ 414, "uri_too_long", "Request URI too long." },
		{ 417, "expectation_failed", "Expectation failed." },
		{ 431, "headers_too_large", "Request headers too large." },
		{ 500, "internal_error", "Internal error." },
		{ 501, "not_implemented", "Not implemented." },
		{ 502, "bad_gateway", "Bad gateway." },
		{ 503, "service_unavailable", "The service is temporarily unavailable." },
		{ 504, "gateway_timeout", "Gateway timeout." },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].status == status) {
			http_error(r, status, map[i].code, map[i].message, NULL);
			return;
		}
	}
	http_error(r, status >= 400 && status <= 599 ? status : 500, "http_error", "HTTP error.",
		   NULL);
}

/* Route by path, then method. */
int http_dispatch(struct http_req *r, const struct http_route *routes, size_t n)
{
	char allow[128] = "", hdr[160];
	size_t alen = 0;
	const char *redirect = http_param(r, "REDIRECT_STATUS");

	if (redirect && atoi(redirect) >= 400) {
		error_document(r, atoi(redirect));
		return -1;
	}

	for (size_t i = 0; i < n; i++) {
		const struct http_route *rt = &routes[i];
		int match = rt->prefix ? strncmp(r->path, rt->path, strlen(rt->path)) == 0 &&
						 r->path[strlen(rt->path)] != '\0'
				       : strcmp(r->path, rt->path) == 0;
		if (!match)
			continue;
		if (strcmp(r->method, rt->method) == 0) {
			rt->fn(r);
			return (int)i;
		}
		if (!strstr(allow, rt->method) && alen + strlen(rt->method) + 3 < sizeof(allow))
			alen += (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s",
						 alen ? ", " : "", rt->method);
	}
	if (alen) {
		char msg[200];

		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		snprintf(msg, sizeof(msg), "Method not allowed; use %s.", allow);
		http_error_h(r, 405, hdr, "method_not_allowed", msg, NULL);
		return -1;
	}
	http_error(r, 404, "not_found", "No such resource.", NULL);
	return -1;
}

/* Read at most limit bytes of body. */
int http_read_body(struct http_req *r, size_t limit)
{
	const char *cl = param_or_empty(r, "CONTENT_LENGTH");
	char *end;
	unsigned long long want;
	size_t got;

	errno = 0;
	want = *cl ? strtoull(cl, &end, 10) : 0;
	if (*cl && (errno || *end || cl[0] == '-')) {
		http_error(r, 400, "bad_request", "Invalid Content-Length.", NULL);
		return 400;
	}
	if (want > limit) {
		char msg[96];
		snprintf(msg, sizeof(msg), "Request body exceeds %zu bytes.", limit);
		http_error(r, 413, "payload_too_large", msg, NULL);
		return 413;
	}
	r->body = malloc((size_t)want + 1);
	if (!r->body) {
		http_error(r, 500, "internal_error", "Out of memory.", NULL);
		return 500;
	}
	got = fcgi_read_wiped(r->fcgx.in, r->body, (size_t)want);
	if (got != want) {
		r->body_len = got;
		http_error(r, 400, "bad_request", "Request body shorter than Content-Length.", NULL);
		return 400;
	}
	r->body_len = (size_t)want;
	r->body[r->body_len] = '\0';
	return 0;
}

/* RFC 9110 token characters (tchar). */
static int is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A media type is TYPE followed by parameters (RFC 9110 8.3.1:
 * *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] )); anything else
 * after it refuses the whole header.  The only parameter looked at is
 * charset, which must then be UTF-8. */
int http_content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	const char *p;

	if (strncasecmp(ct, type, n) != 0)
		return 0;
	for (p = skip_ows(ct + n); *p;) {
		const char *name, *val;
		size_t name_len, val_len;

		if (*p != ';')
			return 0;
		p = skip_ows(p + 1);
		if (*p == '\0' || *p == ';')
			continue;
		for (name = p; is_tchar((unsigned char)*p); p++)
			;
		name_len = (size_t)(p - name);
		if (name_len == 0 || *p++ != '=')
			return 0;
		if (*p == '"') {
			for (val = ++p; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p != '"')
				return 0;
			val_len = (size_t)(p++ - val);
		} else {
			for (val = p; is_tchar((unsigned char)*p); p++)
				;
			val_len = (size_t)(p - val);
			if (val_len == 0)
				return 0;
		}
		if (name_len == 7 && strncasecmp(name, "charset", 7) == 0 &&
		    !((val_len == 5 && strncasecmp(val, "utf-8", 5) == 0) ||
		      (val_len == 4 && strncasecmp(val, "utf8", 4) == 0)))
			return 0;
		p = skip_ows(p);
	}
	return 1;
}

int http_content_type_is_json(const char *ct)
{
	return http_content_type_is(ct, "application/json");
}

/* Content type, size, encoding and syntax checks, then parse. */
int http_json_body(struct http_req *r, size_t limit, struct json_object **out)
{
	const char *code, *message;

	*out = NULL;
	if (!http_content_type_is_json(r->content_type)) {
		http_error(r, 415, "unsupported_media_type",
			   "Content-Type must be application/json.", NULL);
		return -1;
	}
	if (http_read_body(r, limit) != 0)
		return -1;
	if (json_parse_object(r->body, r->body_len, out, &code, &message) != 0) {
		http_error(r, strcmp(code, "internal_error") == 0 ? 500 : 400, code, message, NULL);
		return -1;
	}
	return 0;
}

/* A required string member, with its error. */
int http_need_str(struct json_object *body, const char *key, const char *label, unsigned flags,
		  size_t max, const char **s, size_t *len, struct json_object *errors)
{
	char msg[128];
	int rc = json_get_str(body, key, s, len);

	if (rc == 1 || (rc == 0 && *len == 0 && (flags & HTTP_STR_NONEMPTY))) {
		snprintf(msg, sizeof(msg), "%s is required.", label);
		http_errors_add(errors, key, "required", msg);
		return -1;
	}
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s must be a string.", label);
		http_errors_add(errors, key, "invalid_type", msg);
		return -1;
	}
	if ((flags & HTTP_STR_NO_NUL) && strlen(*s) != *len) {
		snprintf(msg, sizeof(msg), "%s must not contain NUL characters.", label);
		http_errors_add(errors, key, "invalid_characters", msg);
		return -1;
	}
	if (max && *len > max) {
		snprintf(msg, sizeof(msg), "%s must be at most %zu bytes.", label, max);
		http_errors_add(errors, key, "too_long", msg);
		return -1;
	}
	return 0;
}

/* Authorization: Bearer. */
int http_bearer_token(struct http_req *r, const char **tok, size_t *len)
{
	const char *h = http_param(r, "HTTP_AUTHORIZATION");
	size_t n;

	if (!h || !*h)
		return 1;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	*tok = h;
	*len = n;
	return 0;
}
