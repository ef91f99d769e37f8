/* http: FastCGI request handling and JSON replies. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

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

/* 1 when id is 1-64 of [A-Za-z0-9._-]: safe to log and echo. */
static int request_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)id[i]) || id[i] == '-' || id[i] == '_' || id[i] == '.'))
			return 0;
	return 1;
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
	if (request_id_ok(rid))
		snprintf(r->id, sizeof(r->id), "%s", rid);
	else
		uuid7_new(r->id);
	r->body = NULL;
	r->body_len = 0;
	r->status = 0;
	r->secret_reply = 0;
	log_set_request_id(r->id);
}

/* Read up to n bytes of the request's input into dst, zeroing libfcgi's
 * copy as it goes: each fragment libfcgi offers, [rdNext, stop) of its
 * public stream state, is taken whole with FCGX_GetStr and then zeroed
 * where it lay.  When none is left, FCGX_GetChar has libfcgi refill its
 * buffer and FCGX_UnGetChar puts the byte back, so that it is taken (and
 * zeroed) with the rest of its fragment.  The bytes read, fewer at the
 * end of the input. */
static size_t read_wiped(FCGX_Stream *in, char *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		unsigned char *src;
		size_t m;
		int c;

		if (in->rdNext == in->stop) {
			c = FCGX_GetChar(in);
			if (c == EOF || FCGX_UnGetChar(c, in) == EOF)
				break; /* end of input (the second cannot fail after the first) */
		}
		src = in->rdNext;
		m = (size_t)(in->stop - in->rdNext);
		if (m > n - got)
			m = n - got;
		if (FCGX_GetStr(dst + got, (int)m, in) != (int)m)
			break; /* not libfcgi as we read it: nothing zeroed, nothing lost */
		sodium_memzero(src, m);
		got += m;
	}
	return got;
}

/* Write n bytes of s, which hold a secret, to out and send them: each
 * part that fits the free span [wrNext, stop) of libfcgi's buffer is put
 * there, flushed, and zeroed where it lay once libfcgi counts the span
 * free again (sent) or the stream has failed (closed: the peer is gone,
 * and what libfcgi may try again may as well be zeros).  0, or -1 when
 * the stream failed. */
static int put_wiped(FCGX_Stream *out, const char *s, size_t n)
{
	while (n > 0) {
		unsigned char *dst = out->wrNext;
		size_t m = (size_t)(out->stop - out->wrNext);

		if (m == 0) { /* full of what was written before: send that first */
			if (FCGX_FFlush(out) != 0 || out->wrNext == out->stop)
				return -1;
			continue;
		}
		if (m > n)
			m = n;
		if (FCGX_PutStr(s, (int)m, out) != (int)m)
			return -1;
		(void)FCGX_FFlush(out);
		if (dst + m <= out->stop && (out->wrNext <= dst || out->isClosed))
			sodium_memzero(dst, m);
		if (out->isClosed)
			return -1;
		s += m;
		n -= m;
	}
	return 0;
}

/* 1 when the request's input has been read to its end (reading what is
 * left of it, a bounded amount): the web server then has nothing more to
 * send on this connection. */
static int input_drained(struct http_req *r)
{
	char buf[1024];
	size_t left = 64 * 1024, n;

	while (FCGX_HasSeenEOF(r->fcgx.in) != EOF && left > 0) {
		n = read_wiped(r->fcgx.in, buf, sizeof(buf) < left ? sizeof(buf) : left);
		if (n == 0)
			break;
		left -= n;
	}
	sodium_memzero(buf, sizeof(buf)); /* an unread body may hold a password */
	return FCGX_HasSeenEOF(r->fcgx.in) == EOF;
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
	if (input_drained(r))
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

/* Reason phrase for the statuses we send. */
static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* The status line and headers of every reply: status, reason,
 * Cache-Control, X-Request-Id, extra header lines. */
#define REPLY_HEAD                                                                                 \
	"Status: %d %s\r\n"                                                                        \
	"Content-Type: application/json\r\n"                                                       \
	"Cache-Control: %s\r\n"                                                                    \
	"X-Content-Type-Options: nosniff\r\n"                                                      \
	"X-Request-Id: %s\r\n"                                                                     \
	"%s\r\n"

/* A reply that holds a secret (tokens in the body, a device cookie in
 * the extra headers): made whole in a buffer of ours, written with
 * put_wiped, and that buffer zeroed.  -1 out of memory, nothing sent. */
static int reply_secret(struct http_req *r, int status, const char *cache_control,
			const char *extra_headers, const char *json, size_t len)
{
	int h = snprintf(NULL, 0, REPLY_HEAD, status, status_text(status), cache_control, r->id,
			 extra_headers);
	char *buf = h < 0 ? NULL : malloc((size_t)h + 1 + len);

	if (!buf)
		return -1;
	snprintf(buf, (size_t)h + 1, REPLY_HEAD, status, status_text(status), cache_control, r->id,
		 extra_headers);
	memcpy(buf + h, json, len);
	(void)put_wiped(r->fcgx.out, buf, (size_t)h + len); /* failed: the peer is gone */
	sodium_memzero(buf, (size_t)h + len);
	free(buf);
	return 0;
}

/* Write status line, headers and an already serialized JSON body. */
void http_reply_text(struct http_req *r, int status, const char *cache_control,
		     const char *extra_headers, const char *json, size_t len)
{
	if (!cache_control)
		cache_control = "no-store";
	if (!extra_headers)
		extra_headers = "";
	if (!json)
		len = 0;
	if (r->secret_reply) {
		if (reply_secret(r, status, cache_control, extra_headers, json, len) == 0) {
			r->status = status;
			return;
		}
		r->secret_reply = 0; /* nothing of it was sent */
		http_error(r, 500, "internal_error", "Out of memory.", NULL);
		return;
	}
	FCGX_FPrintF(r->fcgx.out, REPLY_HEAD, status, status_text(status), cache_control, r->id,
		     extra_headers);
	if (len)
		FCGX_PutStr(json, (int)len, r->fcgx.out);
	r->status = status;
}

/* Write status line, headers and body. */
void http_reply(struct http_req *r, int status, const char *extra_headers, struct json_object *body)
{
	const char *text = body ? json_plain(body) : "";

	http_reply_text(r, status, NULL, extra_headers, text, strlen(text));
	json_object_put(body);
}

void http_reply_wiped(struct http_req *r, int status, struct json_object *body)
{
	const char *text = json_plain(body);

	r->secret_reply = 1;
	http_reply_text(r, status, NULL, NULL, text, strlen(text));
	json_put_wiped_sent(body, text);
}

/* Append one error entry. */
void http_errors_add(struct json_object *errors, const char *field, const char *code,
		     const char *message)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "field", field ? json_object_new_string(field) : NULL);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_array_add(errors, e);
}

/* Reply a list of errors, with extra header lines. */
void http_errors_h(struct http_req *r, int status, const char *extra_headers,
		   struct json_object *errors)
{
	struct json_object *body = json_object_new_object();
	struct json_object *first = json_object_array_get_idx(errors, 0);
	struct json_object *code = NULL, *msg = NULL;

	if (first) {
		json_object_object_get_ex(first, "code", &code);
		json_object_object_get_ex(first, "message", &msg);
	}
	json_object_object_add(body, "success", json_object_new_boolean(0));
	json_object_object_add(body, "error", json_object_get(code));
	json_object_object_add(body, "message", json_object_get(msg));
	json_object_object_add(body, "errors", errors);
	if (status >= 500)
		log_warnx("event=reply status=%d code=%s", status,
			  code ? json_object_get_string(code) : "-");
	else
		log_info("event=reply status=%d code=%s", status,
			 code ? json_object_get_string(code) : "-");
	http_reply(r, status, extra_headers, body);
}

/* Reply a list of errors. */
void http_errors(struct http_req *r, int status, struct json_object *errors)
{
	http_errors_h(r, status, NULL, errors);
}

/* Reply one error, with extra header lines. */
void http_error_h(struct http_req *r, int status, const char *extra_headers, const char *code,
		  const char *message, const char *field)
{
	struct json_object *errors = json_object_new_array();

	http_errors_add(errors, field, code, message);
	http_errors_h(r, status, extra_headers, errors);
}

/* Reply one error. */
void http_error(struct http_req *r, int status, const char *code, const char *message,
		const char *field)
{
	http_error_h(r, status, NULL, code, message, field);
}

/* 503 with Retry-After. */
void http_unavailable(struct http_req *r, long retry_after)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry_after);
	http_error_h(r, 503, hdr, "service_unavailable",
		     "The service is temporarily unavailable; try again later.", NULL);
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
void http_dispatch(struct http_req *r, const struct http_route *routes, size_t n)
{
	char allow[128] = "", hdr[160];
	size_t alen = 0;
	const char *redirect = http_param(r, "REDIRECT_STATUS");

	if (redirect && atoi(redirect) >= 400) {
		error_document(r, atoi(redirect));
		return;
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
			return;
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
		return;
	}
	http_error(r, 404, "not_found", "No such resource.", NULL);
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
	got = read_wiped(r->fcgx.in, r->body, (size_t)want);
	if (got != want) {
		r->body_len = got;
		http_error(r, 400, "bad_request", "Request body shorter than Content-Length.", NULL);
		return 400;
	}
	r->body_len = (size_t)want;
	r->body[r->body_len] = '\0';
	return 0;
}

/* application/json with no charset or UTF-8. */
int http_content_type_is_json(const char *ct)
{
	size_t n = strcspn(ct, "; \t");
	const char *cs;

	if (n != strlen("application/json") || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	cs = strcasestr(ct + n, "charset=");
	if (!cs)
		return 1;
	cs += strlen("charset=");
	if (*cs == '"')
		cs++;
	return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0;
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

/* 401 for a refused access token. */
void http_reply_invalid_token(struct http_req *r, const char *message)
{
	http_error_h(r, 401, "WWW-Authenticate: Bearer realm=\"magenta\", error=\"invalid_token\"\r\n",
		     "invalid_token", message, NULL);
}
