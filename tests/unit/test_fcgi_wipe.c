/* Unit tests: no secret of a FastCGI request or of its reply is left in
 * memory libfcgi frees: its parameters (an Authorization header), its
 * input buffer (a password in the body), its output buffer (the tokens
 * of a reply).  A real request over a Unix socket, read with libfcgi as
 * the services do; every block freed by http_req_end and FCGX_Finish_r
 * is searched for the secret (free_watch.h).  The reply must still
 * arrive whole. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "free_watch.h"
#include "http.h"
#include "t.h"

/* Append one FastCGI record of request 1. */
static size_t record(unsigned char *out, int type, const void *content, size_t len)
{
	unsigned char pad = (unsigned char)((8 - len % 8) % 8);

	out[0] = 1;
	out[1] = (unsigned char)type;
	out[2] = 0;
	out[3] = 1;
	out[4] = (unsigned char)(len >> 8);
	out[5] = (unsigned char)len;
	out[6] = pad;
	out[7] = 0;
	memcpy(out + 8, content, len);
	memset(out + 8 + len, 0, pad);
	return 8 + len + pad;
}

/* Append one name-value pair (both shorter than 128 bytes). */
static size_t pair(unsigned char *out, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	out[0] = (unsigned char)n;
	out[1] = (unsigned char)v;
	memcpy(out + 2, name, n);
	memcpy(out + 2 + n, value, v);
	return 2 + n + v;
}

/* One request like lighttpd's for POST /api/auth/login, its password and
 * bearer token the secret, answered with a token reply holding the
 * secret; wiped: through http_req_end, as the services do.  How many
 * blocks freed by http_req_end and FCGX_Finish_r held the secret;
 * *reply_ok: the client got the reply's body and the end of the request. */
static int serve_one(int wiped, int *reply_ok)
{
	char path[] = "/tmp/test_fcgi_wipe.XXXXXX", sock_path[64];
	unsigned char req[2048], params[1024], got[16384];
	char body[256], bearer[128], len_text[16];
	const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct http_req r;
	struct json_object *o;
	size_t n = 0, p = 0, have = 0;
	ssize_t k;
	int listen_fd, client;

	CHECK(mkdtemp(path) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/s", path);
	listen_fd = FCGX_OpenSocket(sock_path, 4);
	CHECK(listen_fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	client = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(client, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	snprintf(body, sizeof(body), "{\"usernameOrEmail\":\"bob\",\"password\":\"%s\"}", secret);
	snprintf(bearer, sizeof(bearer), "Bearer %s", secret);
	snprintf(len_text, sizeof(len_text), "%zu", strlen(body));
	p += pair(params + p, "REQUEST_METHOD", "POST");
	p += pair(params + p, "REQUEST_URI", "/api/auth/login");
	p += pair(params + p, "CONTENT_TYPE", "application/json");
	p += pair(params + p, "CONTENT_LENGTH", len_text);
	p += pair(params + p, "HTTP_AUTHORIZATION", bearer);
	n += record(req + n, 1, begin, sizeof(begin));
	n += record(req + n, 4, params, p);
	n += record(req + n, 4, "", 0);
	n += record(req + n, 5, body, strlen(body));
	n += record(req + n, 5, "", 0);
	CHECK(write(client, req, n) == (ssize_t)n);

	CHECK(FCGX_InitRequest(&r.fcgx, listen_fd, 0) == 0);
	CHECK(FCGX_Accept_r(&r.fcgx) == 0);
	http_req_begin(&r);
	CHECK(http_json_body(&r, 4096, &o) == 0);
	json_put_wiped(o);
	o = json_object_new_object();
	json_object_object_add(o, "accessToken", json_object_new_string(secret));
	http_reply_wiped(&r, 200, o);

	leaked = 0;
	watching = 1;
	if (wiped) {
		http_req_end(&r);
	} else {
		sodium_memzero(r.body, r.body_len); /* only libfcgi's copies count */
		free(r.body);
		FCGX_Detach(&r.fcgx); /* as http_req_end: close without waiting */
	}
	FCGX_Finish_r(&r.fcgx);
	watching = 0;

	/* the reply: a stdout record with the body, then the end records */
	while ((k = read(client, got + have, sizeof(got) - have)) > 0)
		have += (size_t)k;
	*reply_ok = memmem(got, have, "\"accessToken\":\"Sup3r-Secret-Marker!\"",
			   strlen("\"accessToken\":\"Sup3r-Secret-Marker!\"")) != NULL &&
		    have >= 16 && got[have - 16 + 1] == 3; /* FCGI_END_REQUEST last */
	close(client);
	close(listen_fd);
	unlink(sock_path);
	rmdir(path);
	return leaked;
}

int main(void)
{
	int ok = 0;

	if (sodium_init() < 0 || FCGX_Init() != 0)
		return 99;
	if (!free_watch_works()) {
		/* under ASan or valgrind: their checks of the wipes' memory
		 * accesses, and the reply must still arrive whole */
		fprintf(stderr, "free() is not ours here: only the reply is checked\n");
		serve_one(1, &ok);
		CHECK(ok);
		return t_done();
	}
	/* without the wipe the watch sees libfcgi's copies: parameters,
	 * input and output buffers */
	CHECK(serve_one(0, &ok) >= 3);
	CHECK(ok);
	CHECK(serve_one(1, &ok) == 0);
	CHECK(ok);
	return t_done();
}
