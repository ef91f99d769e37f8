/* http_reply: the answers of the FastCGI programs: status line, headers,
 * JSON bodies, and the one error shape (http.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fcgi_wipe.h"
#include "http.h"
#include "json.h"
#include "log.h"

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
 * fcgi_put_wiped, and that buffer zeroed.  -1 out of memory, nothing sent. */
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
	(void)fcgi_put_wiped(r->fcgx.out, buf, (size_t)h + len); /* failed: the peer is gone */
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

/* Status line, headers and a body that is not JSON. */
void http_reply_plain(struct http_req *r, int status, const char *content_type, const char *body,
		      size_t len)
{
	FCGX_FPrintF(r->fcgx.out,
		     "Status: %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Cache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "X-Request-Id: %s\r\n\r\n",
		     status, status_text(status), content_type, r->id);
	if (len)
		FCGX_PutStr(body, (int)len, r->fcgx.out);
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

/* 401 for a refused access token. */
void http_reply_invalid_token(struct http_req *r, const char *message)
{
	http_error_h(r, 401, "WWW-Authenticate: Bearer realm=\"magenta\", error=\"invalid_token\"\r\n",
		     "invalid_token", message, NULL);
}
