/* Unit tests: what a FastCGI request and its reply leave in memory
 * libfcgi frees.  The body's secret (a password) in libfcgi's input
 * buffer and a secret reply (tokens, a device cookie) in its output
 * buffer are zeroed; of the parameters (an Authorization header), the
 * copies libfcgi hands out (envp) are, its raw record in the input buffer
 * is not (docs/auth.md): the header's secret may be found in one block at
 * most.  A real request over a Unix socket, read with libfcgi as the
 * services do; every block freed by http_req_end and FCGX_Finish_r is
 * searched for the secrets (free_watch.h).  The reply must still arrive
 * whole. */
#include "config.h"

#include <signal.h>
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

/* The content of the stdout records in the len bytes at in, into out
 * (NUL-terminated, at most cap bytes); 1 when the last record is
 * FCGI_END_REQUEST. */
static int stdout_of(const unsigned char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0, i = 0;
	int last = 0;

	while (i + 8 <= len) {
		size_t clen = (size_t)in[i + 4] << 8 | in[i + 5], pad = in[i + 6];

		if (i + 8 + clen + pad > len)
			break;
		if (in[i + 1] == 6 && n + clen < cap) {
			memcpy(out + n, in + i + 8, clen);
			n += clen;
		}
		last = in[i + 1];
		i += 8 + clen + pad;
	}
	out[n] = '\0';
	return last == 3 && i == len;
}

/* One request like lighttpd's for POST /api/auth/login, its body's
 * password the secret and its Authorization header holding header_secret,
 * answered with a token reply holding the secret.  big: a body of 10 kB
 * in records of at most 3 000 bytes, one starting with the secret (libfcgi
 * reads it in several passes), and a reply of 9 kB (more than libfcgi's
 * buffer) whose device cookie holds the secret too; big 2: a small one
 * whose client is gone before the reply (its sending fails).  wiped: read and
 * answered as the services do, then http_req_end; else read with
 * FCGX_GetStr and answered as a plain reply.  Sets leaked and
 * header_leaked (blocks freed by http_req_end and FCGX_Finish_r that
 * held the secrets); *reply_ok: the client got the whole reply and the
 * end of the request. */
static void serve_one(int wiped, int big, int *reply_ok)
{
	char path[] = "/tmp/test_fcgi_wipe.XXXXXX", sock_path[64];
	static unsigned char req[32768], got[65536];
	static char body[16384], pad[10001], text[65536];
	unsigned char params[1024];
	char bearer[128], len_text[16], cookie[128], want[128];
	const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct http_req r;
	struct json_object *o;
	const char *reply;
	size_t n = 0, p = 0, have = 0, blen, at, cut;
	ssize_t k;
	int listen_fd, client;

	CHECK(mkdtemp(path) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/s", path);
	listen_fd = FCGX_OpenSocket(sock_path, 4);
	CHECK(listen_fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	client = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(client, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	memset(pad, 'x', sizeof(pad) - 1);
	pad[big == 1 ? 10000 : 0] = '\0';
	snprintf(body, sizeof(body),
		 "{\"usernameOrEmail\":\"bob\",\"pad\":\"%s\",\"password\":\"%s\"}", pad, secret);
	blen = strlen(body);
	at = (size_t)(strstr(body, secret) - body);
	snprintf(bearer, sizeof(bearer), "Bearer %s", header_secret);
	snprintf(len_text, sizeof(len_text), "%zu", blen);
	p += pair(params + p, "REQUEST_METHOD", "POST");
	p += pair(params + p, "REQUEST_URI", "/api/auth/login");
	p += pair(params + p, "CONTENT_TYPE", "application/json");
	p += pair(params + p, "CONTENT_LENGTH", len_text);
	p += pair(params + p, "HTTP_AUTHORIZATION", bearer);
	n += record(req + n, 1, begin, sizeof(begin));
	n += record(req + n, 4, params, p);
	n += record(req + n, 4, "", 0);
	for (size_t i = 0; i < blen; i += cut) {
		cut = blen - i < 3000 ? blen - i : 3000;
		if (big == 1 && i < at && i + cut > at)
			cut = at - i; /* the next record starts with the secret */
		n += record(req + n, 5, body + i, cut);
	}
	n += record(req + n, 5, "", 0);
	CHECK(write(client, req, n) == (ssize_t)n);

	CHECK(FCGX_InitRequest(&r.fcgx, listen_fd, 0) == 0);
	CHECK(FCGX_Accept_r(&r.fcgx) == 0);
	http_req_begin(&r);
	if (wiped) {
		CHECK(http_json_body(&r, 65536, &o) == 0);
		json_put_wiped(o);
	} else {
		r.body = malloc(blen + 1);
		CHECK(r.body && FCGX_GetStr(r.body, (int)blen, r.fcgx.in) == (int)blen);
		r.body_len = blen;
	}
	o = json_object_new_object();
	json_object_object_add(o, "pad", json_object_new_string(big == 1 ? pad : ""));
	json_object_object_add(o, "accessToken", json_object_new_string(secret));
	snprintf(cookie, sizeof(cookie), "Set-Cookie: d=%s\r\n", big == 1 ? secret : "none");
	reply = json_plain(o);
	if (big == 2)
		close(client); /* the reply's write fails: EPIPE */
	r.secret_reply = wiped;
	http_reply_text(&r, 200, NULL, cookie, reply, strlen(reply));
	json_put_wiped_sent(o, reply);

	leaked = 0;
	header_leaked = 0;
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

	/* the reply: stdout records with headers and body, then the end */
	*reply_ok = 1;
	if (big == 2)
		goto out;
	while ((k = read(client, got + have, sizeof(got) - have)) > 0)
		have += (size_t)k;
	snprintf(want, sizeof(want), "\"accessToken\":\"%s\"}", secret);
	*reply_ok = stdout_of(got, have, text, sizeof(text)) &&
		    strncmp(text, "Status: 200 OK\r\n", 16) == 0 && strstr(text, cookie) &&
		    strstr(text, "\r\n\r\n{\"pad\":\"") && strstr(text, want) &&
		    strlen(text) == (size_t)(strstr(text, want) - text) + strlen(want);
	close(client);
out:
	close(listen_fd);
	unlink(sock_path);
	rmdir(path);
}

int main(void)
{
	int ok = 0;

	if (sodium_init() < 0 || FCGX_Init() != 0)
		return 99;
	signal(SIGPIPE, SIG_IGN); /* as the services do */
	if (!free_watch_works()) {
		/* under ASan or valgrind: their checks of the wipes' memory
		 * accesses, and the reply must still arrive whole */
		fprintf(stderr, "free() is not ours here: only the reply is checked\n");
		serve_one(1, 0, &ok);
		CHECK(ok);
		serve_one(1, 1, &ok);
		CHECK(ok);
		serve_one(1, 2, &ok);
		return t_done();
	}
	for (int big = 0; big <= 1; big++) {
		/* without the wipe the watch sees libfcgi's copies: the body
		 * in the input buffer, the reply in the output buffer, the
		 * header in the parameters (and, small, in the input buffer) */
		serve_one(0, big, &ok);
		CHECK(ok);
		CHECK(leaked >= 2);
		CHECK(header_leaked >= (big ? 1 : 2));
		serve_one(1, big, &ok);
		CHECK(ok);
		CHECK(leaked == 0);
		CHECK(header_leaked <= (big ? 0 : 1)); /* the input buffer's record */
	}
	/* a reply that could not be sent is wiped all the same */
	serve_one(0, 2, &ok);
	CHECK(leaked >= 2);
	serve_one(1, 2, &ok);
	CHECK(leaked == 0);
	CHECK(header_leaked <= 1);
	return t_done();
}
