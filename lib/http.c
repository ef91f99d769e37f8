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

/* json-c's nesting limit for request bodies; our name check stops there too. */
#define JSON_DEPTH_MAX 32

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

/* Serialize compactly. */
const char *json_plain(struct json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Zero every string value in obj, at any depth. */
static void json_wipe_strings(struct json_object *obj)
{
	if (json_object_is_type(obj, json_type_string)) {
		sodium_memzero((char *)json_object_get_string(obj),
			       (size_t)json_object_get_string_len(obj));
	} else if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, k, v)
		{
			(void)k;
			json_wipe_strings(v);
		}
	} else if (json_object_is_type(obj, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			json_wipe_strings(json_object_array_get_idx(obj, i));
	}
}

void json_put_wiped(struct json_object *obj)
{
	if (!obj)
		return;
	json_wipe_strings(obj);
	json_object_put(obj);
}

void json_put_wiped_sent(struct json_object *obj, const char *text)
{
	sodium_memzero((char *)text, strlen(text));
	json_put_wiped(obj);
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

/* Reply a list of errors. */
void http_errors(struct http_req *r, int status, struct json_object *errors)
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
	log_info("event=reply status=%d code=%s", status,
		 code ? json_object_get_string(code) : "-");
	http_reply(r, status, NULL, body);
}

/* Reply one error. */
void http_error(struct http_req *r, int status, const char *code, const char *message,
		const char *field)
{
	struct json_object *errors = json_object_new_array();

	http_errors_add(errors, field, code, message);
	http_errors(r, status, errors);
}

/* 503 with Retry-After. */
void http_unavailable(struct http_req *r, long retry_after)
{
	char hdr[64];
	struct json_object *errors = json_object_new_array();
	struct json_object *body = json_object_new_object();

	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry_after);
	http_errors_add(errors, NULL, "service_unavailable",
			"The service is temporarily unavailable; try again later.");
	json_object_object_add(body, "success", json_object_new_boolean(0));
	json_object_object_add(body, "error", json_object_new_string("service_unavailable"));
	json_object_object_add(body, "message", json_object_new_string(
		"The service is temporarily unavailable; try again later."));
	json_object_object_add(body, "errors", errors);
	log_warnx("event=reply status=503 code=service_unavailable");
	http_reply(r, 503, hdr, body);
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
		struct json_object *errors = json_object_new_array();
		struct json_object *body = json_object_new_object();
		char msg[200];

		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		snprintf(msg, sizeof(msg), "Method not allowed; use %s.", allow);
		http_errors_add(errors, NULL, "method_not_allowed", msg);
		json_object_object_add(body, "success", json_object_new_boolean(0));
		json_object_object_add(body, "error", json_object_new_string("method_not_allowed"));
		json_object_object_add(body, "message", json_object_new_string(msg));
		json_object_object_add(body, "errors", errors);
		log_info("event=reply status=405 code=method_not_allowed");
		http_reply(r, 405, hdr, body);
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

/* What json-c does not check, read outside every string of s: whether a
 * ' appears (json-c 0.16 accepts single-quoted member names even in strict
 * mode; JSON does not), and how many members are written (each ':'
 * separates a member's name from its value), at any depth. */
static void scan_outside_strings(const char *s, size_t len, int *bare_quote, size_t *members)
{
	int in_str = 0;

	*bare_quote = 0;
	*members = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '\'') {
			*bare_quote = 1;
		} else if (s[i] == ':') {
			(*members)++;
		}
	}
}

/* Members of obj and of every object in it. */
static size_t members_parsed(struct json_object *obj)
{
	size_t n = 0;

	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, k, v)
		{
			(void)k;
			n += 1 + members_parsed(v);
		}
	} else if (json_object_is_type(obj, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			n += members_parsed(json_object_array_get_idx(obj, i));
	}
	return n;
}

/* Four hex digits at s (the caller knows they are there); -1 if not hex. */
static long hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Decode the JSON string whose opening quote is at s[*i] into out, as
 * json-c 0.16 stores a member name: escapes resolved, a surrogate pair
 * joined, a lone surrogate as U+FFFD, and the name cut at a \u0000 (it
 * keeps names as C strings).  Leaves *i on the closing quote (or at len);
 * returns the bytes written, never more than the escaped text's length. */
static size_t name_decode(const char *s, size_t len, size_t *i, char *out)
{
	size_t n = 0;
	int cut = 0;

	for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
		long cp;

		if (s[*i] != '\\') {
			if (!cut)
				out[n++] = s[*i];
			continue;
		}
		if (++*i >= len)
			break;
		switch (s[*i]) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (*i + 4 >= len || (cp = hex4(s + *i + 1)) < 0)
				return n; /* not JSON: json-c refuses it */
			*i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && *i + 6 < len && s[*i + 1] == '\\' &&
			    s[*i + 2] == 'u') {
				long lo = hex4(s + *i + 3);

				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					*i += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			break;
		default: cp = (unsigned char)s[*i]; break; /* " \ / */
		}
		if (cp == 0)
			cut = 1;
		if (cut)
			continue;
		if (cp < 0x80) {
			out[n++] = (char)cp;
		} else if (cp < 0x800) {
			out[n++] = (char)(0xC0 | cp >> 6);
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[n++] = (char)(0xE0 | cp >> 12);
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[n++] = (char)(0xF0 | cp >> 18);
			out[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return n;
}

struct name_seen {
	size_t obj, off, len; /* obj 0: empty slot */
	uint64_t hash;
};

/* Does an object of the JSON text s name a member twice, with names
 * compared as json-c stores them?  Asked before json-c parses: it keeps
 * the last of a repeated name and frees the value it replaces unwiped,
 * and that value may be a password.  members: the ':' outside strings
 * (scan_outside_strings), an upper bound on the names.  1, 0, or -1 out
 * of memory; a text that is not JSON may get either answer (json-c
 * refuses it anyway). */
static int json_repeats_a_name(const char *s, size_t len, size_t members)
{
	struct {
		size_t obj; /* 0: an array */
		int want_name;
	} stack[JSON_DEPTH_MAX + 1];
	struct name_seen *seen = NULL;
	char *names = NULL;
	size_t cap = 8, used = 0, depth = 0, objs = 0;
	int rc = 0;

	if (members < 2)
		return 0;
	while (cap < 2 * members)
		cap *= 2;
	seen = calloc(cap, sizeof(*seen));
	names = malloc(len);
	if (!seen || !names) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = s[i];

		if (c == '{' || c == '[') {
			if (depth == JSON_DEPTH_MAX)
				break; /* too deep: json-c refuses it */
			depth++;
			stack[depth].obj = c == '{' ? ++objs : 0;
			stack[depth].want_name = c == '{';
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
		} else if (c == ',') {
			stack[depth].want_name = depth > 0 && stack[depth].obj != 0;
		} else if (c == '"' && depth > 0 && stack[depth].want_name) {
			size_t off = used, n = name_decode(s, len, &i, names + used), k;
			uint64_t h = 1469598103934665603ULL ^ stack[depth].obj;

			stack[depth].want_name = 0;
			for (size_t j = 0; j < n; j++)
				h = (h ^ (unsigned char)names[off + j]) * 1099511628211ULL;
			for (k = h & (cap - 1); seen[k].obj; k = (k + 1) & (cap - 1))
				if (seen[k].hash == h && seen[k].obj == stack[depth].obj &&
				    seen[k].len == n && memcmp(names + seen[k].off, names + off, n) == 0) {
					rc = 1;
					break;
				}
			if (rc == 0 && used + n <= len && members-- > 0) {
				seen[k] = (struct name_seen){stack[depth].obj, off, n, h};
				used += n;
			} else if (rc == 0) {
				break; /* more names than ':': not JSON */
			}
		} else if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		}
	}
out:
	if (names)
		sodium_memzero(names, len); /* member names only, but cheap */
	free(names);
	free(seen);
	return rc;
}

int json_names_repeat(const char *s, size_t len)
{
	size_t members;
	int bare_quote;

	scan_outside_strings(s, len, &bare_quote, &members);
	return json_repeats_a_name(s, len, members);
}

/* NUL, UTF-8 and syntax checks, then one strict parse. */
int json_parse_object(const char *body, size_t len, struct json_object **out, const char **code,
		      const char **message)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t written;
	int bare_quote;

	*out = NULL;
	if (memchr(body, '\0', len)) {
		*code = "invalid_body";
		*message = "Request body contains a NUL byte.";
		return -1;
	}
	if (utf8_codepoints(body, len) < 0) {
		*code = "invalid_utf8";
		*message = "Request body is not valid UTF-8.";
		return -1;
	}
	scan_outside_strings(body, len, &bare_quote, &written);
	switch (json_repeats_a_name(body, len, written)) {
	case 1:
		*code = "duplicate_member";
		*message = "Request body names a member more than once.";
		return -1;
	case -1:
		*code = "internal_error";
		*message = "Out of memory.";
		return -1;
	}
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok) {
		*code = "internal_error";
		*message = "Out of memory.";
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj && jerr == json_tokener_success && bare_quote)
		jerr = json_tokener_error_parse_unexpected;
	if (obj && jerr == json_tokener_success) {
		/* only white space may follow the value */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!isspace((unsigned char)body[i]))
				jerr = json_tokener_error_parse_unexpected;
	} else if (jerr == json_tokener_continue) {
		jerr = json_tokener_error_parse_eof;
	}
	/* its work buffer holds a copy of the last string read (a password
	 * at the end of a body): wiped, like everything that held the body
	 * (the field is public in json-c 0.16's header, if deprecated) */
	if (tok->pb && tok->pb->buf)
		sodium_memzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	*code = "malformed_json";
	if (jerr != json_tokener_success) {
		json_put_wiped(obj);
		*message = "Request body is not valid JSON.";
		return -1;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_put_wiped(obj);
		*message = "Request body must be a JSON object.";
		return -1;
	}
	/* json-c keeps the last of a repeated name: which one counts would
	 * be a guess (RFC 8259 leaves it open; RFC 7493 forbids repeats) */
	if (written != members_parsed(obj)) {
		json_put_wiped(obj);
		*code = "duplicate_member";
		*message = "Request body names a member more than once.";
		return -1;
	}
	*out = obj;
	return 0;
}

/* String member. */
int json_get_str(struct json_object *obj, const char *key, const char **s, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
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

/* Boolean member. */
int json_get_bool(struct json_object *obj, const char *key, int *b)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*b = json_object_get_boolean(v);
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
	struct json_object *errors = json_object_new_array(), *body = json_object_new_object();

	http_errors_add(errors, NULL, "invalid_token", message);
	json_object_object_add(body, "success", json_object_new_boolean(0));
	json_object_object_add(body, "error", json_object_new_string("invalid_token"));
	json_object_object_add(body, "message", json_object_new_string(message));
	json_object_object_add(body, "errors", errors);
	http_reply(r, 401,
		   "WWW-Authenticate: Bearer realm=\"magenta\", error=\"invalid_token\"\r\n", body);
}
