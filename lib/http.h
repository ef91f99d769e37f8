/* http: one FastCGI request, its body, routing (lib/http.c) and JSON
 * replies (lib/http_reply.c).
 *
 * Every reply but the metrics text (http_reply_plain) is JSON; every one
 * carries X-Request-Id, Cache-Control: no-store and
 * X-Content-Type-Options: nosniff.  Error bodies have one shape for both
 * services:
 *   {"success":false,"error":CODE,"message":TEXT,
 *    "errors":[{"field":FIELD|null,"code":CODE,"message":TEXT},...]}
 */
#ifndef MAGENTA_HTTP_H
#define MAGENTA_HTTP_H

#include <stddef.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "json.h"

struct http_req {
	FCGX_Request fcgx;
	const char *method;       /* REQUEST_METHOD, never NULL */
	char path[512];           /* REQUEST_URI up to '?', "" when too long */
	const char *content_type; /* never NULL */
	const char *remote_addr;  /* never NULL */
	char id[65];              /* X-Request-Id received (if sane) or made */
	char *body;               /* NUL-terminated after http_read_body */
	size_t body_len;
	int status;               /* status replied, 0 before */
	int secret_reply;         /* the reply holds a secret: set before replying, it
				   * goes through a buffer of ours and libfcgi's copy
				   * is zeroed once sent (http_reply_wiped sets it) */
};

typedef void (*http_handler)(struct http_req *r);

struct http_route {
	const char *method;
	const char *path; /* exact, or a prefix when it ends in '/' and prefix is set */
	http_handler fn;
	int prefix;
};

/* Fill the fields of r after FCGX_Accept_r succeeded. */
void http_req_begin(struct http_req *r);

/* Read what is left of the input (bounded), wipe and free the body, and
 * wipe libfcgi's copies of the parameters (an Authorization header).
 * The body's bytes in libfcgi's input buffer are zeroed as they are read
 * (http_read_body), a secret reply's in its output buffer as they are
 * sent; the parameters' raw bytes in the input buffer are not reachable
 * (docs/auth.md, "Secrets in memory").  The caller then calls
 * FCGX_Finish_r or accepts again; nothing of the request may be read
 * after this. */
void http_req_end(struct http_req *r);

/* A request header by CGI name ("HTTP_AUTHORIZATION"), or NULL. */
const char *http_param(struct http_req *r, const char *name);

/* Run the route for r: 404 when no path matches, 405 with Allow when the
 * path matches under another method.  The index in routes of the route
 * that ran, or -1 (404, 405, the web server's error document). */
int http_dispatch(struct http_req *r, const struct http_route *routes, size_t n);

/* Read the body, at most limit bytes, zeroing libfcgi's copy as it is
 * read: 0, or an HTTP status (413, 400) already replied. */
int http_read_body(struct http_req *r, size_t limit);

/* Check Content-Type, read (limit) and parse a JSON object body.  0 with
 * *out set (caller json_object_put()s), or -1 after replying 415, 413 or
 * 400 (malformed JSON, invalid UTF-8, NUL bytes, not an object). */
int http_json_body(struct http_req *r, size_t limit, struct json_object **out);

/* 1 when ct is application/json, with no charset parameter or UTF-8. */
int http_content_type_is_json(const char *ct);

/* Content-Type ct is the media type type (case-insensitively) with no
 * charset parameter, or charset UTF-8. */
int http_content_type_is(const char *ct, const char *type);

/* Reply status with body (consumed; NULL for none) and extra header lines,
 * each ending in "\r\n" (NULL for none). */
void http_reply(struct http_req *r, int status, const char *extra_headers, struct json_object *body);

/* Like http_reply without extra headers, for a body that holds secrets
 * (tokens): its serialized text, its strings and libfcgi's copy are
 * zeroed once sent (the reply is flushed at once). */
void http_reply_wiped(struct http_req *r, int status, struct json_object *body);

/* Like http_reply with a body already serialized (len bytes, not consumed)
 * and a Cache-Control value (NULL: "no-store"), for fixed and cacheable
 * answers; with r->secret_reply set, sent and its copy in libfcgi's
 * buffer zeroed (a 500 instead, out of memory). */
void http_reply_text(struct http_req *r, int status, const char *cache_control,
		     const char *extra_headers, const char *json, size_t len);

/* Reply status with a body that is not JSON (the metrics text): len
 * bytes of body (not consumed), Content-Type content_type, Cache-Control:
 * no-store; never a secret. */
void http_reply_plain(struct http_req *r, int status, const char *content_type, const char *body,
		      size_t len);

/* Reply the one-error shape; field may be NULL. */
void http_error(struct http_req *r, int status, const char *code, const char *message,
		const char *field);

/* Reply the error shape with a list of {"field","code","message"} objects
 * (consumed); the top-level code and message are the first entry's. */
void http_errors(struct http_req *r, int status, struct json_object *errors);

/* The two above with extra header lines (each ending in "\r\n"; NULL for
 * none): every error answer is made by these four. */
void http_error_h(struct http_req *r, int status, const char *extra_headers, const char *code,
		  const char *message, const char *field);
void http_errors_h(struct http_req *r, int status, const char *extra_headers,
		   struct json_object *errors);

/* Append {"field","code","message"} to the array errors. */
void http_errors_add(struct json_object *errors, const char *field, const char *code,
		     const char *message);

/* 503 with Retry-After (retry_after seconds). */
void http_unavailable(struct http_req *r, long retry_after);

/* The token of "Authorization: Bearer TOKEN" (RFC 6750 section 2.1; the
 * scheme case-insensitively, blanks around the token ignored): 0 with
 * *tok, *len set; 1 when there is no Authorization header; -1 when it is
 * not a Bearer one. */
int http_bearer_token(struct http_req *r, const char **tok, size_t *len);

/* 401 with WWW-Authenticate: Bearer realm="magenta", error="invalid_token"
 * (RFC 6750 section 3) and the error shape, code invalid_token. */
void http_reply_invalid_token(struct http_req *r, const char *message);

/* A required string member of a request body, checked in this order:
 * present (and, with HTTP_STR_NONEMPTY, not empty) or "required", a string
 * or "invalid_type", with HTTP_STR_NO_NUL free of NUL characters or
 * "invalid_characters", at most max bytes (0: no bound) or "too_long".
 * label names the member in the messages ("Username is required.").
 * 0 with *s,*len set, or -1 after adding the error to errors. */
#define HTTP_STR_NONEMPTY 1u
#define HTTP_STR_NO_NUL 2u
int http_need_str(struct json_object *body, const char *key, const char *label, unsigned flags,
		  size_t max, const char **s, size_t *len, struct json_object *errors);

#endif
