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

/* 1 when the request's input has been read to its end (reading what is
 * left of it, a bounded amount): the web server then has nothing more to
 * send on this connection. */
static int input_drained(struct http_req *r)
{
	char buf[1024];
	size_t left = 64 * 1024;
	int n;

	while (FCGX_HasSeenEOF(r->fcgx.in) != EOF && left > 0) {
		n = FCGX_GetStr(buf, sizeof(buf), r->fcgx.in);
		if (n <= 0)
			break;
		left -= (size_t)n < left ? (size_t)n : left;
	}
	sodium_memzero(buf, sizeof(buf)); /* an unread body may hold a password */
	return FCGX_HasSeenEOF(r->fcgx.in) == EOF;
}

/* Finish with the input, release the body. */
/* The first fields of libfcgi's private stream state (FCGX_Stream_Data in
 * fcgiapp.c, unchanged from 2.2 to 2.4.2).  Read only to find a stream's
 * buffer, and trusted only when the stream's public pointers lie inside
 * the buffer they describe. */
struct fcgx_stream_data {
	unsigned char *buff; /* mBuff aligned to 8 */
	int bufflen;         /* bytes at buff */
	unsigned char *mBuff;
	unsigned char *buffStop;
};

/* The buffer of stream s, or -1 (NULL, or not laid out as expected). */
static int stream_buffer(const FCGX_Stream *s, unsigned char **buf, size_t *len)
{
	const struct fcgx_stream_data *d;
	const unsigned char *next;

	if (!s || !s->data)
		return -1;
	d = s->data;
	if (!d->mBuff || d->buff < d->mBuff || d->buff - d->mBuff > 7 || d->bufflen < 24 ||
	    d->bufflen > 65536)
		return -1;
	next = s->isReader ? s->rdNext : s->wrNext;
	if (next < d->buff || next > d->buff + d->bufflen || s->stop < d->buff ||
	    s->stop > d->buff + d->bufflen || d->buffStop < d->buff ||
	    d->buffStop > d->buff + d->bufflen)
		return -1;
	*buf = d->buff;
	*len = (size_t)d->bufflen;
	return 0;
}

/* Wipe what libfcgi is about to free unwiped: the request's parameters
 * (an Authorization header), its input buffer (the body: a password, a
 * refresh token), and, after a reply that holds a secret, the output
 * buffer, sent first.  1 when the buffers were found, 0 when libfcgi is
 * not laid out as expected (the parameters are wiped all the same). */
static int fcgi_wipe(struct http_req *r)
{
	unsigned char *buf;
	size_t len;
	int found = 1;

	for (char **e = r->fcgx.envp; e && *e; e++)
		sodium_memzero(*e, strlen(*e));
	if (stream_buffer(r->fcgx.in, &buf, &len) == 0)
		sodium_memzero(buf, len);
	else if (r->fcgx.in)
		found = 0;
	if (r->secret_reply && r->fcgx.out) {
		/* closed now, as FCGX_Finish_r would (error stream first, so
		 * that the output's close also ends the request): the reply
		 * and the end records leave in one write, and the buffer holds
		 * nothing unsent; FCGX_Finish_r's own closes then do nothing */
		(void)FCGX_FClose(r->fcgx.err);
		(void)FCGX_FClose(r->fcgx.out); /* failed: nothing more is sent */
		if (stream_buffer(r->fcgx.out, &buf, &len) == 0)
			sodium_memzero(buf, len);
		else
			found = 0;
	}
	return found;
}

void http_req_end(struct http_req *r)
{
	static int warned;

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
	if (!fcgi_wipe(r) && !warned) {
		warned = 1;
		log_warnx("event=fcgi_buffers_not_wiped why=unexpected_libfcgi_layout");
	}
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

/* Write status line, headers and an already serialized JSON body. */
void http_reply_text(struct http_req *r, int status, const char *cache_control,
		     const char *extra_headers, const char *json, size_t len)
{
	FCGX_FPrintF(r->fcgx.out,
		     "Status: %d %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Cache-Control: %s\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "X-Request-Id: %s\r\n"
		     "%s\r\n",
		     status, status_text(status), cache_control ? cache_control : "no-store", r->id,
		     extra_headers ? extra_headers : "");
	if (json && len)
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
	int got;

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
	got = want ? FCGX_GetStr(r->body, (int)want, r->fcgx.in) : 0;
	if (got < 0 || (unsigned long long)got != want) {
		r->body_len = got > 0 ? (size_t)got : 0;
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
