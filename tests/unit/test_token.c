/* Unit tests: JWT signing and verification, claims, nonces, refresh
 * token encoding and successor sealing (keys: test_token_key.c; encodings:
 * test_jose.c). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "jose.h"
#include "refresh.h"
#include "roles.h"
#include "t.h"
#include "token.h"
#include "token_t.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* base64url of text into out. */
static void b64(char *out, size_t cap, const char *text)
{
	sodium_bin2base64(out, cap, (const unsigned char *)text, strlen(text), B64URL);
}

/* Decode the JSON of part (0 header, 1 payload) of tok; caller puts. */
static struct json_object *part(const char *tok, int which)
{
	char buf[TOKEN_MAX];
	unsigned char bin[TOKEN_MAX];
	const char *s = tok, *e;
	size_t n;

	if (which == 1)
		s = strchr(tok, '.') + 1;
	e = strchr(s, '.');
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	if (sodium_base642bin(bin, sizeof(bin) - 1, buf, strlen(buf), NULL, &n, NULL, B64URL) != 0)
		return NULL;
	bin[n] = '\0';
	return json_tokener_parse((const char *)bin);
}

/* A token made of the given header and payload JSON and the signature part of real. */
static void forge(char *out, size_t cap, const char *header, const char *payload, const char *sig)
{
	char h[1024], p[2048];

	b64(h, sizeof(h), header);
	b64(p, sizeof(p), payload);
	snprintf(out, cap, "%s.%s.%s", h, p, sig);
}

/* Sign and verify, then every way a token can be wrong. */
static void test_es256(void)
{
	char k1[300], k2[300], k3[300], paths[700], err[512], tok[TOKEN_MAX], bad[TOKEN_MAX];
	char hdr[512], pl[1024], mac64[64];
	struct token_ctx t, t2, other;
	struct token_claims c, out;
	struct json_object *o, *v;
	long long now = 1700000000;
	int n;
	enum token_status st;
	const char *sig;

	make_key("ES256", "k1.pem", k1, sizeof(k1));
	make_key("ES256", "k2.pem", k2, sizeof(k2));
	make_key("ES256", "k3.pem", k3, sizeof(k3));
	CHECK(token_ctx_init(&t, k1, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(t.nkeys == 1);
	CHECK(strcmp(token_key_alg(&t, 0), "ES256") == 0);
	CHECK(strlen(token_key_kid(&t, 0)) == TOKEN_KID_LEN);

	claims_at(&c, now);
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0 && (size_t)n == strlen(tok));
	/* the signature is raw r||s: 64 bytes = 86 characters */
	sig = strrchr(tok, '.') + 1;
	CHECK(strlen(sig) == 86);

	o = part(tok, 0);
	CHECK(o && json_object_object_get_ex(o, "alg", &v) &&
	      strcmp(json_object_get_string(v), "ES256") == 0);
	CHECK(o && json_object_object_get_ex(o, "kid", &v) &&
	      strcmp(json_object_get_string(v), token_key_kid(&t, 0)) == 0);
	CHECK(o && json_object_object_get_ex(o, "typ", &v) &&
	      strcmp(json_object_get_string(v), "JWT") == 0);
	json_object_put(o);
	o = part(tok, 1);
	CHECK(o && json_object_object_get_ex(o, "iss", &v) &&
	      strcmp(json_object_get_string(v), "https://issuer.test") == 0);
	CHECK(o && json_object_object_get_ex(o, "exp", &v) &&
	      json_object_get_int64(v) == now + 900);
	CHECK(o && json_object_object_get_ex(o, "username", &v) &&
	      strcmp(json_object_get_string(v), "alice") == 0);
	json_object_put(o);

	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(strcmp(out.sub, c.sub) == 0 && strcmp(out.sid, c.sid) == 0);
	CHECK(strcmp(out.jti, c.jti) == 0 && strcmp(out.username, "alice") == 0);
	CHECK(out.exp == now + 900 && out.iat == now && out.nbf == now);
	CHECK(strcmp(out.kid, token_key_kid(&t, 0)) == 0);

	/* time: leeway 30 s on both ends */
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)(now + 929), 1, &out) == TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)(now + 930), 1, &out) == TOKEN_EXPIRED);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)(now + 930), 0, &out) == TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)(now - 30), 1, &out) == TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)(now - 31), 1, &out) == TOKEN_NOT_YET_VALID);

	/* tampered: one payload character, one signature character */
	memcpy(bad, tok, (size_t)n + 1);
	bad[strchr(bad, '.') - bad + 5] ^= 1;
	st = token_verify(&t, bad, (size_t)n, (time_t)now, 1, &out);
	CHECK(st == TOKEN_BAD_SIGNATURE || st == TOKEN_MALFORMED);
	memcpy(bad, tok, (size_t)n + 1);
	bad[n - 3] = bad[n - 3] == 'A' ? 'B' : 'A';
	CHECK(token_verify(&t, bad, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_SIGNATURE);
	/* truncated signature, no signature, extra part, garbage */
	CHECK(token_verify(&t, tok, (size_t)n - 2, (time_t)now, 1, &out) != TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)(sig - tok), (time_t)now, 1, &out) != TOKEN_OK);
	CHECK(snprintf(bad, sizeof(bad), "%s.e30", tok) < (int)sizeof(bad));
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_MALFORMED);
	CHECK(token_verify(&t, "a.b", 3, (time_t)now, 1, &out) == TOKEN_MALFORMED);
	CHECK(token_verify(&t, "", 0, (time_t)now, 1, &out) == TOKEN_MALFORMED);
	CHECK(token_verify(&t, "!!.!!.!!", 8, (time_t)now, 1, &out) == TOKEN_MALFORMED);

	/* a payload we did not sign, under the real header and signature */
	snprintf(
	    pl, sizeof(pl),
	    "{\"iss\":\"https://issuer.test\",\"aud\":\"magenta\",\"sub\":\"%s\",\"sid\":\"%s\","
	    "\"exp\":%lld,\"username\":\"admin\"}",
	    c.sub, c.sid, now + 900);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
	forge(bad, sizeof(bad), hdr, pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_BAD_SIGNATURE);

	/* alg none, with and without a signature */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
	forge(bad, sizeof(bad), hdr, pl, "");
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_BAD_ALG);
	forge(bad, sizeof(bad), hdr, pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_BAD_ALG);
	/* HS256 with the public JWK text as the HMAC secret */
	{
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		char signing[sizeof(bad)];
		crypto_auth_hmacsha256_state hs;

		snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
			 token_key_kid(&t, 0));
		forge(bad, sizeof(bad), hdr, pl, "x");
		*strrchr(bad, '.') = '\0';
		snprintf(signing, sizeof(signing), "%s", bad);
		crypto_auth_hmacsha256_init(&hs, (const unsigned char *)token_jwks(&t),
					    strlen(token_jwks(&t)));
		crypto_auth_hmacsha256_update(&hs, (const unsigned char *)signing, strlen(signing));
		crypto_auth_hmacsha256_final(&hs, mac);
		sodium_bin2base64(mac64, sizeof(mac64), mac, sizeof(mac), B64URL);
		CHECK(snprintf(bad, sizeof(bad), "%s.%s", signing, mac64) < (int)sizeof(bad));
		CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_BAD_ALG);
	}
	/* RS256 claimed for an EC key */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
	forge(bad, sizeof(bad), hdr, pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_BAD_ALG);
	/* no kid, unknown kid, crit, other typ */
	forge(bad, sizeof(bad), "{\"alg\":\"ES256\"}", pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	forge(bad, sizeof(bad), "{\"alg\":\"ES256\",\"kid\":\"nope\"}", pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":[\"exp\"]}",
		 token_key_kid(&t, 0));
	forge(bad, sizeof(bad), hdr, pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_MALFORMED);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"other\"}",
		 token_key_kid(&t, 0));
	forge(bad, sizeof(bad), hdr, pl, sig);
	CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) == TOKEN_MALFORMED);

	/* issuer and audience are checked */
	CHECK(token_ctx_init(&other, k1, "ES256", "https://evil.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_verify(&other, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_ISSUER);
	token_ctx_release(&other);
	CHECK(token_ctx_init(&other, k1, "ES256", "https://issuer.test", "billing", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_verify(&other, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_AUDIENCE);
	token_ctx_release(&other);

	/* another key with the same kid shape: unknown here */
	CHECK(token_ctx_init(&other, k3, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_verify(&other, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	/* k3's payload and signature under a header naming k1 do not verify */
	{
		char tok3[TOKEN_MAX], h64[512];
		int n3 = token_sign(&other, &c, tok3, sizeof(tok3));

		CHECK(n3 > 0);
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
			 token_key_kid(&t, 0));
		b64(h64, sizeof(h64), hdr);
		snprintf(bad, sizeof(bad), "%s%s", h64, strchr(tok3, '.'));
		CHECK(token_verify(&t, bad, strlen(bad), (time_t)now, 1, &out) ==
		      TOKEN_BAD_SIGNATURE);
	}
	token_ctx_release(&other);

	/* rotation: k2 signs, k1 still verifies; both in the JWKS */
	snprintf(paths, sizeof(paths), "%s:%s", k2, k1);
	CHECK(token_ctx_init(&t2, paths, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(t2.nkeys == 2);
	CHECK(strcmp(token_key_kid(&t2, 1), token_key_kid(&t, 0)) == 0);
	CHECK(token_verify(&t2, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	n = token_sign(&t2, &c, bad, sizeof(bad));
	CHECK(n > 0);
	CHECK(token_verify(&t2, bad, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(strcmp(out.kid, token_key_kid(&t2, 0)) == 0);
	CHECK(token_verify(&t, bad, (size_t)n, (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	o = json_tokener_parse(token_jwks(&t2));
	CHECK(o && json_object_object_get_ex(o, "keys", &v) && json_object_array_length(v) == 2);
	if (o && v) {
		struct json_object *k0 = json_object_array_get_idx(v, 0), *f;
		CHECK(json_object_object_get_ex(k0, "kty", &f) &&
		      strcmp(json_object_get_string(f), "EC") == 0);
		CHECK(json_object_object_get_ex(k0, "crv", &f) &&
		      strcmp(json_object_get_string(f), "P-256") == 0);
		CHECK(json_object_object_get_ex(k0, "kid", &f) &&
		      strcmp(json_object_get_string(f), token_key_kid(&t2, 0)) == 0);
		CHECK(json_object_object_get_ex(k0, "x", &f) &&
		      strlen(json_object_get_string(f)) == 43);
		CHECK(!json_object_object_get_ex(k0, "d", NULL)); /* never the private part */
	}
	json_object_put(o);
	CHECK(strstr(token_jwks(&t2), "\\/") == NULL);
	token_ctx_release(&t2);

	/* the same key twice, a missing file, a wrong algorithm, no key */
	snprintf(paths, sizeof(paths), "%s:%s", k1, k1);
	CHECK(token_ctx_init(&t2, paths, "ES256", "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "twice") != NULL);
	CHECK(token_ctx_init(&t2, "/nonexistent/key.pem", "ES256", "i", "a", 0, err, sizeof(err)) ==
	      -1);
	CHECK(strstr(err, "/nonexistent/key.pem") != NULL);
	CHECK(token_ctx_init(&t2, k1, "RS256", "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(token_ctx_init(&t2, "", "ES256", "i", "a", 0, err, sizeof(err)) == -1);
	/* a public key cannot sign */
	{
		char pub[300];
		write_file("pub.pem", rfc7638_pem, pub, sizeof(pub));
		CHECK(token_ctx_init(&t2, pub, "RS256", "i", "a", 0, err, sizeof(err)) == -1);
	}
	token_ctx_release(&t);
}

/* Refresh tokens: text form, hashing, sealing. */
static void test_refresh(void)
{
	char s[REFRESH_STRLEN + 1], s2[REFRESH_STRLEN + 1], bad[REFRESH_STRLEN + 2];
	unsigned char r1[REFRESH_RAWBYTES], r2[REFRESH_RAWBYTES], back[REFRESH_RAWBYTES];
	unsigned char h1[REFRESH_HASHBYTES], h2[REFRESH_HASHBYTES], box[REFRESH_SEALBYTES];

	refresh_new(s, r1);
	CHECK(strlen(s) == REFRESH_STRLEN);
	CHECK(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      REFRESH_STRLEN);
	CHECK(refresh_parse(s, strlen(s), back) == 0 && memcmp(back, r1, sizeof(r1)) == 0);
	refresh_format(s2, r1);
	CHECK(strcmp(s, s2) == 0);
	refresh_new(s2, r2);
	CHECK(strcmp(s, s2) != 0);

	CHECK(refresh_parse(s, REFRESH_STRLEN - 1, back) == -1);
	snprintf(bad, sizeof(bad), "%sA", s);
	CHECK(refresh_parse(bad, strlen(bad), back) == -1);
	snprintf(bad, sizeof(bad), "%s", s);
	bad[3] = '+';
	CHECK(refresh_parse(bad, strlen(bad), back) == -1);
	bad[3] = '=';
	CHECK(refresh_parse(bad, strlen(bad), back) == -1);
	/* 43 characters carry 258 bits: the last 2 must be zero */
	snprintf(bad, sizeof(bad), "%s", s);
	bad[42] = 'B'; /* value 1: a non-zero trailing bit */
	CHECK(refresh_parse(bad, strlen(bad), back) == -1);

	refresh_hash(h1, r1);
	refresh_hash(h2, r1);
	CHECK(memcmp(h1, h2, sizeof(h1)) == 0);
	CHECK(memcmp(h1, r1, sizeof(h1)) != 0);
	refresh_hash(h2, r2);
	CHECK(memcmp(h1, h2, sizeof(h1)) != 0);
	{
		/* SHA-256 of 32 zero bytes */
		unsigned char zero[REFRESH_RAWBYTES] = {0};
		char hex[65];
		refresh_hash(h1, zero);
		sodium_bin2hex(hex, sizeof(hex), h1, sizeof(h1));
		CHECK(strcmp(hex,
			     "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925") ==
		      0);
	}

	refresh_seal(box, r1, r2);
	CHECK(memmem(box, sizeof(box), r2, sizeof(r2)) == NULL);
	CHECK(refresh_open(back, box, r1) == 0 && memcmp(back, r2, sizeof(r2)) == 0);
	CHECK(refresh_open(back, box, r2) == -1);
	box[REFRESH_SEALBYTES - 1] ^= 1;
	CHECK(refresh_open(back, box, r1) == -1);
}

/* The r half of tok's ES256 signature into r; 0 or -1. */
static int sig_r(const char *tok, unsigned char r[32])
{
	const char *sig = strrchr(tok, '.');
	unsigned char raw[64];
	size_t n = 0;

	if (!sig ||
	    sodium_base642bin(raw, sizeof(raw), sig + 1, strlen(sig + 1), NULL, &n, NULL, B64URL) !=
		0 ||
	    n != 64)
		return -1;
	memcpy(r, raw, 32);
	return 0;
}

/* Sign n tokens with t at now, each checked by token_verify; their r values
 * into rs (32 bytes each).  The count that signed and verified. */
static int sign_many(struct token_ctx *t, int n, long long now, unsigned char (*rs)[32])
{
	char tok[TOKEN_MAX];
	struct token_claims c, out;
	int good = 0;

	for (int i = 0; i < n; i++) {
		int len;

		claims_at(&c, now);
		snprintf(c.jti, sizeof(c.jti), "jti-%d", i);
		len = token_sign(t, &c, tok, sizeof(tok));
		if (len > 0 &&
		    token_verify(t, tok, (size_t)len, (time_t)now, 1, &out) == TOKEN_OK &&
		    strcmp(out.jti, c.jti) == 0 && sig_r(tok, rs[i]) == 0)
			good++;
	}
	return good;
}

/* How many of a's n values occur in b's m (or, with b == a, twice in a). */
static int common(unsigned char (*a)[32], int n, unsigned char (*b)[32], int m)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		for (int j = b == a ? i + 1 : 0; j < m; j++)
			k += memcmp(a[i], b[j], 32) == 0;
	return k;
}

/* Every ES256 signature has a nonce of its own (r = (kG).x differs), and
 * so do a forked child's and its parent's for the same claims: libcrypto's
 * nonces, made for each signature (a prepared nonce shared with a copy of
 * the process would reveal the key). */
static void test_nonces(void)
{
	enum { N = 40 };
	static unsigned char rs[N][32], parent[1][32], child[1][32];
	char k1[300], err[512];
	struct token_ctx t;
	long long now = 1700000000;
	int fd[2], st = 0, got = 0;
	ssize_t r;
	pid_t pid;

	make_key("ES256", "nonces.pem", k1, sizeof(k1));
	CHECK(token_ctx_init(&t, k1, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(sign_many(&t, N, now, rs) == N);
	CHECK(common(rs, N, rs, N) == 0);

	CHECK(pipe(fd) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		if (sign_many(&t, 1, now, child) == 1 &&
		    write(fd[1], child, sizeof(child)) == (ssize_t)sizeof(child))
			_exit(0);
		_exit(1);
	}
	close(fd[1]);
	CHECK(sign_many(&t, 1, now, parent) == 1);
	while (got < (int)sizeof(child) &&
	       (r = read(fd[0], (unsigned char *)child + got, sizeof(child) - (size_t)got)) > 0)
		got += (int)r;
	close(fd[0]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(got == (int)sizeof(child));
	CHECK(common(parent, 1, child, 1) == 0);
	CHECK(common(parent, 1, rs, N) == 0);
	token_ctx_release(&t);
}

/* ES256-sign header.payload (JSON texts) with the PEM key at path, as
 * token_sign would, into out: for payloads token_sign cannot write. */
static void sign_raw(char *out, size_t cap, const char *path, const char *header,
		     const char *payload)
{
	char h[1024], p[2048];
	unsigned char der[80], raw[64], md[32];
	size_t dlen = sizeof(der);
	char sig64[100];
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	EVP_PKEY_CTX *ctx = pk ? EVP_PKEY_CTX_new(pk, NULL) : NULL;

	if (f)
		fclose(f);
	b64(h, sizeof(h), header);
	b64(p, sizeof(p), payload);
	snprintf(out, cap, "%s.%s", h, p);
	crypto_hash_sha256(md, (const unsigned char *)out, strlen(out));
	if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_sign(ctx, der, &dlen, md, sizeof(md)) <= 0 ||
	    jose_es256_der_to_raw(raw, der, dlen) != 0) {
		fprintf(stderr, "sign_raw: cannot sign with %s\n", path);
		exit(99);
	}
	sodium_bin2base64(sig64, sizeof(sig64), raw, sizeof(raw), B64URL);
	snprintf(out + strlen(out), cap - strlen(out), ".%s", sig64);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
}

/* Claims a signature cannot make right (issue 15): times out of range,
 * exp near INT64_MAX (exp + leeway overflowed), iss and aud with an
 * embedded NUL; the longest username signs under the longest iss. */
static void test_claim_limits(void)
{
	char k[300], err[512], tok[TOKEN_MAX], hdr[256], pl[1024], iss[1100], name[300];
	struct token_ctx t;
	struct token_claims c, out;
	long long now = 1700000000;
	int n;

	make_key("ES256", "limits.pem", k, sizeof(k));
	CHECK(token_ctx_init(&t, k, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	/* exp at INT64_MAX: refused, not taken as expired (or valid) by a
	 * wrapped sum; whatever now is, with and without the time check */
	c.exp = INT64_MAX;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 0, &out) == TOKEN_BAD_CLAIMS);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)INT64_MAX, 1, &out) == TOKEN_BAD_CLAIMS);
	/* the edges of the range */
	c.exp = TOKEN_TIME_MAX;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)INT64_MAX, 1, &out) == TOKEN_EXPIRED);
	c.exp = TOKEN_TIME_MAX + 1;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	claims_at(&c, now);
	c.nbf = INT64_MAX;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	claims_at(&c, now);
	c.iat = -1;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	claims_at(&c, now);
	c.nbf = INT64_MIN;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	/* nbf and iat in the future, far: no overflow either way */
	claims_at(&c, now);
	c.nbf = TOKEN_TIME_MAX;
	c.exp = TOKEN_TIME_MAX;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_NOT_YET_VALID);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)-1, 1, &out) == TOKEN_NOT_YET_VALID);

	/* iss and aud: a "\u0000" suffix makes another string */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
#define PL(iss_, aud_)                                                                             \
	snprintf(pl, sizeof(pl),                                                                   \
		 "{\"iss\":" iss_ ",\"aud\":" aud_ ",\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,"  \
		 "\"exp\":%lld}",                                                                  \
		 c.sub, c.sid, now, now + 900)
	claims_at(&c, now);
	PL("\"https://issuer.test\"", "\"magenta\"");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_OK);
	PL("\"https://issuer.test\\u0000.evil\"", "\"magenta\"");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_ISSUER);
	PL("\"https://issuer.test\"", "\"magenta\\u0000billing\"");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_AUDIENCE);
	PL("\"https://issuer.test\"", "[\"billing\",\"magenta\\u0000\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_AUDIENCE);
	PL("\"https://issuer.test\"", "[\"billing\",\"magenta\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_OK);
#undef PL
	token_ctx_release(&t);

	/* a leeway outside 0..TOKEN_LEEWAY_MAX is refused */
	CHECK(token_ctx_init(&t, k, "ES256", "i", "a", -1, err, sizeof(err)) == -1);
	CHECK(token_ctx_init(&t, k, "ES256", "i", "a", TOKEN_LEEWAY_MAX + 1, err, sizeof(err)) ==
	      -1);

	/* the longest iss accepted still signs the longest username events
	 * carry, at its longest escaped (every byte a quote), with ids and
	 * times and roles at their longest; one byte of iss more is refused at start */
	memset(name, '"', TOKEN_USERNAME_MAX);
	name[TOKEN_USERNAME_MAX] = '\0';
	for (size_t len = sizeof(iss) - 1; len > 0; len--) {
		memset(iss, 'i', len);
		iss[len] = '\0';
		if (token_ctx_init(&t, k, "ES256", iss, "magenta", 30, err, sizeof(err)) == 0)
			break;
		CHECK(strstr(err, "too long") != NULL);
	}
	CHECK(strlen(iss) > 900); /* room for any sensible issuer URL */
	memset(&c, 0, sizeof(c));
	memset(c.sub, 's', TOKEN_ID_MAX);
	memset(c.sid, 'd', TOKEN_ID_MAX);
	memset(c.jti, 'j', TOKEN_ID_MAX);
	memcpy(c.username, name, TOKEN_USERNAME_MAX + 1);
	c.roles = ROLES_ALL;
	memset(c.client_id, '"', TOKEN_CLIENT_ID_MAX);
	memset(c.scope, '"', TOKEN_SCOPE_MAX);
	c.iat = c.nbf = c.exp = INT64_MIN;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0);
	c.iat = c.nbf = now;
	c.exp = now + 900;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0 && token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(n > 0 && strcmp(out.username, name) == 0);
	CHECK(n > 0 && out.roles == ROLES_ALL);
	token_ctx_release(&t);
}

/* The "roles" claim: always written, read back; absent is none; anything
 * but an array of known names is refused. */
/* The "sst" claim: the stamp's digest, signed in, read back, checked. */
static void test_sst(void)
{
	char k[300], err[512], tok[TOKEN_MAX], d1[TOKEN_SST_LEN + 1], d2[TOKEN_SST_LEN + 1];
	struct token_ctx t;
	struct token_claims c, out;
	struct json_object *o, *v;
	long long now = 1700000000;
	int n;

	token_stamp_digest("0123456789abcdef0123456789abcdef", d1);
	token_stamp_digest("0123456789abcdef0123456789abcdee", d2);
	CHECK(strlen(d1) == TOKEN_SST_LEN && strspn(d1, "0123456789abcdef") == TOKEN_SST_LEN);
	CHECK(strcmp(d1, d2) != 0);
	/* BLAKE2b-128 of "magenta-sst-v1\0" || stamp, as b2sum -l 128 computes it */
	token_stamp_digest("", d2);
	CHECK(strcmp(d2, "af297b88885b36c95758a447bcab2aec") == 0);

	make_key("ES256", "sst.pem", k, sizeof(k));
	CHECK(token_ctx_init(&t, k, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	n = token_sign(&t, &c, tok, sizeof(tok));
	o = part(tok, 1);
	CHECK(n > 0 && o && !json_object_object_get_ex(o, "sst", NULL));
	json_object_put(o);
	memcpy(c.sst, d1, sizeof(d1));
	n = token_sign(&t, &c, tok, sizeof(tok));
	o = part(tok, 1);
	CHECK(n > 0 && o && json_object_object_get_ex(o, "sst", &v) &&
	      strcmp(json_object_get_string(v), d1) == 0);
	CHECK(o && json_object_object_get_ex(o, "roles", &v)); /* what follows is intact */
	json_object_put(o);
	memset(&out, 0, sizeof(out));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(strcmp(out.sst, d1) == 0);
	/* a malformed sst is not signed */
	snprintf(c.sst, sizeof(c.sst), "short");
	CHECK(token_sign(&t, &c, tok, sizeof(tok)) == -1);
	token_ctx_release(&t);
}

static void test_roles(void)
{
	char k[300], err[512], tok[TOKEN_MAX], hdr[256], pl[1024];
	struct token_ctx t;
	struct token_claims c, out;
	struct json_object *o, *v;
	long long now = 1700000000;
	int n;

	make_key("ES256", "roles.pem", k, sizeof(k));
	CHECK(token_ctx_init(&t, k, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0);
	o = part(tok, 1);
	CHECK(o && json_object_object_get_ex(o, "roles", &v) &&
	      json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0);
	json_object_put(o);
	out.roles = 77;
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK && out.roles == 0);

	c.roles = ROLE_ADMIN;
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0);
	o = part(tok, 1);
	CHECK(o && json_object_object_get_ex(o, "roles", &v) && json_object_array_length(v) == 1 &&
	      strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "admin") == 0);
	/* the rest of the payload is intact */
	CHECK(o && json_object_object_get_ex(o, "username", &v) &&
	      strcmp(json_object_get_string(v), "alice") == 0);
	json_object_put(o);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(out.roles == ROLE_ADMIN);
	/* the second time from the cache of verified tokens: the same roles */
	memset(&out, 0, sizeof(out));
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(out.roles == ROLE_ADMIN);

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
#define PL(roles_)                                                                                 \
	snprintf(pl, sizeof(pl),                                                                   \
		 "{\"iss\":\"https://issuer.test\",\"aud\":\"magenta\",\"sub\":\"%s\","            \
		 "\"sid\":\"%s\",\"exp\":%lld" roles_ "}",                                         \
		 c.sub, c.sid, now + 900)
	/* absent: no roles */
	PL("");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	out.roles = 77;
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(out.roles == 0);
	PL(",\"roles\":[\"admin\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(out.roles == ROLE_ADMIN);
	/* not an array, an unknown name, a non-string, null, a NUL inside */
	PL(",\"roles\":\"admin\"");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":[\"admin\",\"root\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":[\"Admin\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":[1]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":null");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":{\"admin\":true}");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	PL(",\"roles\":[\"admin\\u0000\"]");
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
#undef PL
	token_ctx_release(&t);
}

/* An OAuth client's claims (client_id and scope: both or neither) and the
 * ID token (aud and azp the client, at_hash the access token's). */
static void test_client_claims(void)
{
	char k[300], err[512], tok[TOKEN_MAX], idt[TOKEN_MAX], pl[1024], hdr[256];
	struct token_ctx t;
	struct token_claims c, out;
	struct json_object *o, *v;
	long long now = 1700000000;
	int n, idn;

	make_key("ES256", "client.pem", k, sizeof(k));
	CHECK(token_ctx_init(&t, k, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	n = token_sign(&t, &c, tok, sizeof(tok));
	o = part(tok, 1);
	CHECK(n > 0 && o && !json_object_object_get_ex(o, "client_id", NULL) &&
	      !json_object_object_get_ex(o, "scope", NULL));
	json_object_put(o);
	snprintf(c.client_id, sizeof(c.client_id), "AbCdEfGhIjKlMnOpQrStUv");
	snprintf(c.scope, sizeof(c.scope), "openid email");
	n = token_sign(&t, &c, tok, sizeof(tok));
	o = part(tok, 1);
	CHECK(n > 0 && o && json_object_object_get_ex(o, "client_id", &v) &&
	      strcmp(json_object_get_string(v), "AbCdEfGhIjKlMnOpQrStUv") == 0);
	CHECK(o && json_object_object_get_ex(o, "scope", &v) &&
	      strcmp(json_object_get_string(v), "openid email") == 0);
	CHECK(o && json_object_object_get_ex(o, "roles", NULL)); /* what follows is intact */
	json_object_put(o);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK &&
	      strcmp(out.client_id, c.client_id) == 0 && strcmp(out.scope, c.scope) == 0);

	/* one without the other is refused */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
		 token_key_kid(&t, 0));
	snprintf(pl, sizeof(pl),
		 "{\"iss\":\"https://issuer.test\",\"aud\":\"magenta\",\"sub\":\"s\",\"sid\":\"d\","
		 "\"exp\":%lld,\"client_id\":\"AbCdEfGhIjKlMnOpQrStUv\"}",
		 now + 60);
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);
	snprintf(pl, sizeof(pl),
		 "{\"iss\":\"https://issuer.test\",\"aud\":\"magenta\",\"sub\":\"s\",\"sid\":\"d\","
		 "\"exp\":%lld,\"client_id\":\"x\",\"scope\":7}",
		 now + 60);
	sign_raw(tok, sizeof(tok), k, hdr, pl);
	CHECK(token_verify(&t, tok, strlen(tok), (time_t)now, 1, &out) == TOKEN_BAD_CLAIMS);

	/* the ID token */
	n = token_sign(&t, &c, tok, sizeof(tok));
	{
		struct token_id_claims ic = {c.sub, c.sid, c.client_id, now, now + 900, tok,
					     (size_t)n};
		unsigned char h[32];
		char want[32];

		idn = token_sign_id(&t, &ic, idt, sizeof(idt));
		crypto_hash_sha256(h, (const unsigned char *)tok, (size_t)n);
		sodium_bin2base64(want, sizeof(want), h, 16,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		o = part(idt, 1);
		CHECK(idn > 0 && o);
		CHECK(o && json_object_object_get_ex(o, "aud", &v) &&
		      strcmp(json_object_get_string(v), c.client_id) == 0);
		CHECK(o && json_object_object_get_ex(o, "azp", &v) &&
		      strcmp(json_object_get_string(v), c.client_id) == 0);
		CHECK(o && json_object_object_get_ex(o, "iss", &v) &&
		      strcmp(json_object_get_string(v), "https://issuer.test") == 0);
		CHECK(o && json_object_object_get_ex(o, "sub", &v) &&
		      strcmp(json_object_get_string(v), c.sub) == 0);
		CHECK(o && json_object_object_get_ex(o, "at_hash", &v) &&
		      strcmp(json_object_get_string(v), want) == 0);
		CHECK(o && json_object_object_get_ex(o, "exp", &v) &&
		      json_object_get_int64(v) == now + 900);
		json_object_put(o);
		/* not an access token: its audience is the client's */
		CHECK(token_verify(&t, idt, (size_t)idn, (time_t)now, 1, &out) ==
		      TOKEN_BAD_AUDIENCE);
		ic.client_id = NULL;
		CHECK(token_sign_id(&t, &ic, idt, sizeof(idt)) == -1);
	}

	/* a key ring's bounds (keyring.h): past sign_until nothing is
	 * signed; past its not_after a key verifies nothing, even a token
	 * verified before (remembered) */
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0 && token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	t.keys[0].not_after = now;
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now - 1, 1, &out) == TOKEN_OK);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	t.keys[0].not_after = 0;
	t.sign_until = (long long)time(NULL) + 3600;
	CHECK(token_sign(&t, &c, tok, sizeof(tok)) > 0);
	t.sign_until = (long long)time(NULL) - 1;
	CHECK(token_sign(&t, &c, tok, sizeof(tok)) == -1);
	{
		struct token_id_claims ic = {c.sub, c.sid, c.client_id, now, now + 900, NULL, 0};
		CHECK(token_sign_id(&t, &ic, idt, sizeof(idt)) == -1);
	}
	token_ctx_release(&t);
}

/* Every group, in a private directory for the key files. */
int main(void)
{
	char cmd[128];

	umask(077); /* keys are written 0600, as magentactl keygen does */
	if (sodium_init() < 0 || !mkdtemp(dir))
		return 99;
	test_es256();
	test_nonces();
	test_claim_limits();
	test_roles();
	test_sst();
	test_client_claims();
	test_refresh();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return t_done();
}
