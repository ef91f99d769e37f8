/* Unit tests: JWT signing and verification, key loading, JWKS, kid
 * thumbprints, refresh token encoding and successor sealing. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "refresh.h"
#include "roles.h"
#include "t.h"
#include "token.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* The RSA public key of RFC 7638 section 3.1, whose thumbprint is known. */
static const char rfc7638_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0vx7agoebGcQSuuPiLJX\n"
    "ZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\n"
    "oc/BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ/2W+5JsGY4Hc5n9yBXArwl93lqt\n"
    "7/RN5w6Cf0h4QyQ5v+65YGjQR0/FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0\n"
    "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt+bFTWhAI4vMQFh6WeZu0f\n"
    "M4lFd2NcRwr3XPksINHaQ+G/xBniIqbw0Ls1jF44+csFCur+kEgU8awapJzKnqDK\n"
    "gwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static char dir[] = "/tmp/test_token.XXXXXX";

/* Write a fresh key for alg to dir/name; returns the path (static buffer per call site). */
static const char *make_key(const char *alg, const char *name, char *path, size_t cap)
{
	char err[256];
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || token_keygen_pem(alg, f, err, sizeof(err)) != 0) {
		fprintf(stderr, "keygen %s: %s\n", alg, err);
		exit(99);
	}
	fclose(f);
	return path;
}

/* Write text to dir/name. */
static const char *write_file(const char *name, const char *text, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0) {
		perror(path);
		exit(99);
	}
	fclose(f);
	return path;
}

/* Fill claims valid around now. */
static void claims_at(struct token_claims *c, long long now)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->sub, sizeof(c->sub), "0193f1c2-0000-7000-8000-000000000001");
	snprintf(c->sid, sizeof(c->sid), "0193f1c2-0000-7000-8000-000000000002");
	snprintf(c->jti, sizeof(c->jti), "0193f1c2-0000-7000-8000-000000000003");
	snprintf(c->username, sizeof(c->username), "alice");
	c->iat = c->nbf = now;
	c->exp = now + 900;
}

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
	snprintf(bad, sizeof(bad), "%s.e30", tok);
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
		char signing[2048];
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
		snprintf(bad, sizeof(bad), "%s.%s", signing, mac64);
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

/* RS256 keys, and the RFC 7638 thumbprint example. */
static void test_rs256(void)
{
	char k[300], pub[300], paths[700], err[512], tok[TOKEN_MAX];
	struct token_ctx t;
	struct token_claims c, out;
	long long now = 1700000000;
	int n;

	make_key("RS256", "r1.pem", k, sizeof(k));
	write_file("rfc7638.pem", rfc7638_pem, pub, sizeof(pub));
	snprintf(paths, sizeof(paths), "%s:%s", k, pub);
	CHECK(token_ctx_init(&t, paths, "RS256", "iss", "aud", 0, err, sizeof(err)) == 0);
	if (t.nkeys != 2) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK(strcmp(token_key_kid(&t, 1), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == 0);
	CHECK(strcmp(token_key_alg(&t, 0), "RS256") == 0);
	claims_at(&c, now);
	/* strings that need escaping survive the round trip */
	snprintf(c.username, sizeof(c.username), "a\"b\\c\001d");
	n = token_sign(&t, &c, tok, sizeof(tok));
	CHECK(n > 0);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(strcmp(out.username, c.username) == 0);
	CHECK(token_verify(&t, tok, (size_t)n, (time_t)now + 900, 1, &out) == TOKEN_EXPIRED);
	token_ctx_release(&t);
}

/* Write the public half of the private PEM key at priv to dir/name
 * (SubjectPublicKeyInfo, as `openssl pkey -pubout` does); path into out. */
static const char *write_pub(const char *priv, const char *name, char *out, size_t cap)
{
	FILE *f = fopen(priv, "r");
	EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	FILE *g;

	if (f)
		fclose(f);
	snprintf(out, cap, "%s/%s", dir, name);
	g = fopen(out, "w");
	if (!pk || !g || !PEM_write_PUBKEY(g, pk)) {
		fprintf(stderr, "write_pub: %s\n", priv);
		exit(99);
	}
	fclose(g);
	EVP_PKEY_free(pk);
	return out;
}

/* A verify-only context (token_ctx_init_verify) from public PEM files. */
static void test_verify_only(void)
{
	char e1[300], e2[300], r1[300], pe1[300], pe2[300], pr1[300], paths[1000], err[512];
	char tok[TOKEN_MAX], tok2[TOKEN_MAX], tokr[TOKEN_MAX];
	struct token_ctx full, full2, fullr, v, bad;
	struct token_claims c, out;
	long long now = 1700000000;
	int n, n2, nr;

	make_key("ES256", "v1.pem", e1, sizeof(e1));
	make_key("ES256", "v2.pem", e2, sizeof(e2));
	make_key("RS256", "vr.pem", r1, sizeof(r1));
	write_pub(e1, "v1.pub", pe1, sizeof(pe1));
	write_pub(e2, "v2.pub", pe2, sizeof(pe2));
	write_pub(r1, "vr.pub", pr1, sizeof(pr1));
	CHECK(token_ctx_init(&full, e1, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_ctx_init(&full2, e2, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_ctx_init(&fullr, r1, "RS256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	n = token_sign(&full, &c, tok, sizeof(tok));
	n2 = token_sign(&full2, &c, tok2, sizeof(tok2));
	nr = token_sign(&fullr, &c, tokr, sizeof(tokr));
	CHECK(n > 0 && n2 > 0 && nr > 0);

	/* the public halves of e1 and r1: both verify, with the same kids */
	snprintf(paths, sizeof(paths), "%s:%s", pe1, pr1);
	CHECK(token_ctx_init_verify(&v, paths, "https://issuer.test", "magenta", 30, err,
				    sizeof(err)) == 0);
	CHECK(v.nkeys == 2);
	if (v.nkeys != 2) {
		fprintf(stderr, "token_ctx_init_verify: %s\n", err);
		token_ctx_release(&full), token_ctx_release(&full2), token_ctx_release(&fullr);
		return;
	}
	CHECK(strcmp(token_key_kid(&v, 0), token_key_kid(&full, 0)) == 0);
	CHECK(strcmp(token_key_kid(&v, 1), token_key_kid(&fullr, 0)) == 0);
	CHECK(strcmp(token_key_alg(&v, 0), "ES256") == 0 &&
	      strcmp(token_key_alg(&v, 1), "RS256") == 0);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
	CHECK(strcmp(out.sub, c.sub) == 0 && strcmp(out.kid, token_key_kid(&full, 0)) == 0);
	CHECK(token_verify(&v, tokr, (size_t)nr, (time_t)now, 1, &out) == TOKEN_OK);
	/* a token of another key */
	CHECK(token_verify(&v, tok2, (size_t)n2, (time_t)now, 1, &out) == TOKEN_UNKNOWN_KID);
	/* the time checks are the same */
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)(now + 929), 1, &out) == TOKEN_OK);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)(now + 930), 1, &out) == TOKEN_EXPIRED);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)(now - 31), 1, &out) == TOKEN_NOT_YET_VALID);
	/* a tampered signature */
	{
		char t2[TOKEN_MAX];
		memcpy(t2, tok, (size_t)n + 1);
		t2[n - 3] = t2[n - 3] == 'A' ? 'B' : 'A';
		CHECK(token_verify(&v, t2, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_SIGNATURE);
	}
	/* it cannot sign */
	CHECK(token_sign(&v, &c, tok2, sizeof(tok2)) == -1);
	/* its JWKS is the signers' */
	CHECK(strstr(token_jwks(&v), token_key_kid(&full, 0)) != NULL);
	token_ctx_release(&v);

	/* iss and aud are checked */
	CHECK(token_ctx_init_verify(&v, pe1, "https://evil.test", "magenta", 30, err,
				    sizeof(err)) == 0);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_ISSUER);
	token_ctx_release(&v);
	CHECK(token_ctx_init_verify(&v, pe1, "https://issuer.test", "billing", 30, err,
				    sizeof(err)) == 0);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_BAD_AUDIENCE);
	token_ctx_release(&v);
	/* leeway 0: one second after exp is too late */
	CHECK(token_ctx_init_verify(&v, pe1, "https://issuer.test", "magenta", 0, err,
				    sizeof(err)) == 0);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)(now + 899), 1, &out) == TOKEN_OK);
	CHECK(token_verify(&v, tok, (size_t)n, (time_t)(now + 900), 1, &out) == TOKEN_EXPIRED);
	token_ctx_release(&v);

	/* refused: a private key, a missing file, no file, a key twice, a bad
	 * leeway, the RFC 7638 key is fine but a 1024-bit RSA key is not */
	CHECK(token_ctx_init_verify(&bad, e1, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "public key") != NULL);
	CHECK(token_ctx_init_verify(&bad, "/nonexistent/k.pub", "i", "a", 0, err, sizeof(err)) ==
	      -1);
	CHECK(strstr(err, "/nonexistent/k.pub") != NULL);
	CHECK(token_ctx_init_verify(&bad, "", "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "jwt_public_keys") != NULL);
	snprintf(paths, sizeof(paths), "%s:%s", pe1, pe1);
	CHECK(token_ctx_init_verify(&bad, paths, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "twice") != NULL);
	CHECK(token_ctx_init_verify(&bad, pe1, "i", "a", TOKEN_LEEWAY_MAX + 1, err, sizeof(err)) ==
	      -1);
	{
		char small[300];
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		FILE *f;

		snprintf(small, sizeof(small), "%s/small.pub", dir);
		f = fopen(small, "w");
		CHECK(pk && f && PEM_write_PUBKEY(f, pk));
		if (f)
			fclose(f);
		EVP_PKEY_free(pk);
		CHECK(token_ctx_init_verify(&bad, small, "i", "a", 0, err, sizeof(err)) == -1);
		CHECK(strstr(err, "2048") != NULL);
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		snprintf(small, sizeof(small), "%s/p384.pub", dir);
		f = fopen(small, "w");
		CHECK(pk && f && PEM_write_PUBKEY(f, pk));
		if (f)
			fclose(f);
		EVP_PKEY_free(pk);
		CHECK(token_ctx_init_verify(&bad, small, "i", "a", 0, err, sizeof(err)) == -1);
		CHECK(strstr(err, "P-256") != NULL);
	}
	token_ctx_release(&full);
	token_ctx_release(&full2);
	token_ctx_release(&fullr);
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

/* base64url decoding against known values and libsodium's encoder. */
static void test_b64url(void)
{
	unsigned char out[300], bin[256];
	char text[400];

	CHECK(token_b64url_decode(out, sizeof(out), "", 0) == 0);
	CHECK(token_b64url_decode(out, sizeof(out), "Zg", 2) == 1 && out[0] == 'f');
	CHECK(token_b64url_decode(out, sizeof(out), "Zm8", 3) == 2 && memcmp(out, "fo", 2) == 0);
	CHECK(token_b64url_decode(out, sizeof(out), "Zm9v", 4) == 3 && memcmp(out, "foo", 3) == 0);
	CHECK(token_b64url_decode(out, sizeof(out), "-_-_", 4) == 3 &&
	      memcmp(out, "\xfb\xff\xbf", 3) == 0);
	CHECK(token_b64url_decode(out, sizeof(out), "Zh", 2) == -1);	/* trailing bits set */
	CHECK(token_b64url_decode(out, sizeof(out), "Z", 1) == -1);	/* impossible length */
	CHECK(token_b64url_decode(out, sizeof(out), "Zm9v+", 5) == -1); /* base64, not base64url */
	CHECK(token_b64url_decode(out, sizeof(out), "Zg==", 4) == -1);	/* padding */
	CHECK(token_b64url_decode(out, sizeof(out), "Zm 9", 4) == -1);
	CHECK(token_b64url_decode(out, 2, "Zm9v", 4) == -1); /* no room */
	for (int i = 0; i < 500; i++) {
		size_t n = randombytes_uniform(sizeof(bin));
		randombytes_buf(bin, n);
		sodium_bin2base64(text, sizeof(text), bin, n, B64URL);
		if (token_b64url_decode(out, sizeof(out), text, strlen(text)) != (long)n ||
		    memcmp(out, bin, n) != 0) {
			CHECK(!"b64url round trip");
			break;
		}
	}
}

/* DER <-> r||s against libcrypto's own encoder, leading zeros and high bits included. */
static void test_der(void)
{
	unsigned char raw[64], back[64], der[72], *ref = NULL;
	int ok = 1;

	for (int i = 0; i < 2000 && ok; i++) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r, *s;
		size_t dl;
		int rl;

		randombytes_buf(raw, sizeof(raw));
		if (i % 4 == 1)
			memset(raw, 0, 1 + i % 3); /* short r */
		if (i % 4 == 2)
			raw[32] |= 0x80; /* s needs a sign byte */
		if (i % 4 == 3)
			memset(raw + 32, 0, 2), raw[34] |= 0x80;
		if (i == 0)
			memset(raw, 0, 31), raw[31] = 1; /* r = 1 */
		r = BN_bin2bn(raw, 32, NULL);
		s = BN_bin2bn(raw + 32, 32, NULL);
		ECDSA_SIG_set0(es, r, s);
		ref = NULL;
		rl = i2d_ECDSA_SIG(es, &ref);
		dl = token_es256_raw_to_der(der, raw);
		ok = rl > 0 && (size_t)rl == dl && memcmp(der, ref, dl) == 0 &&
		     token_es256_der_to_raw(back, ref, (size_t)rl) == 0 &&
		     memcmp(back, raw, 64) == 0;
		OPENSSL_free(ref);
		ECDSA_SIG_free(es);
	}
	CHECK(ok);
	/* malformed DER is refused */
	randombytes_buf(raw, sizeof(raw));
	raw[0] = 0x7f;
	{
		size_t dl = token_es256_raw_to_der(der, raw);
		unsigned char bad[80];

		CHECK(token_es256_der_to_raw(back, der, dl) == 0);
		CHECK(token_es256_der_to_raw(back, der, dl - 1) == -1);
		memcpy(bad, der, dl);
		bad[0] = 0x31;
		CHECK(token_es256_der_to_raw(back, bad, dl) == -1);
		memcpy(bad, der, dl);
		bad[2] = 0x03;
		CHECK(token_es256_der_to_raw(back, bad, dl) == -1);
		memcpy(bad, der, dl);
		bad[dl] = 0;
		bad[1]++;
		CHECK(token_es256_der_to_raw(back, bad, dl + 1) == -1); /* trailing byte */
		CHECK(token_es256_der_to_raw(back, der, 4) == -1);
	}
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
	    token_es256_der_to_raw(raw, der, dlen) != 0) {
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

/* Write the JWKS text base to dir/name with member of key idx set to the
 * JSON text value (NULL: removed), and try token_ctx_init_verify on it:
 * its return; err filled. */
static int jwks_try(const char *base, size_t idx, const char *member, const char *value, char *err,
		    size_t errlen)
{
	struct json_object *doc = json_tokener_parse(base), *keys, *k;
	struct token_ctx t;
	char path[300];
	int rc;

	if (!doc || !json_object_object_get_ex(doc, "keys", &keys) ||
	    !(k = json_object_array_get_idx(keys, idx))) {
		fprintf(stderr, "jwks_try: bad base\n");
		exit(99);
	}
	if (value)
		json_object_object_add(k, member, json_tokener_parse(value));
	else
		json_object_object_del(k, member);
	write_file("try.jwks", json_object_to_json_string(doc), path, sizeof(path));
	json_object_put(doc);
	err[0] = '\0';
	rc = token_ctx_init_verify(&t, path, "i", "a", 0, err, errlen);
	if (rc == 0)
		token_ctx_release(&t);
	return rc;
}

/* A JWKS file for token_ctx_init_verify: the auth service's own JWKS
 * loads back and verifies its tokens; every other kind of key is refused. */
static void test_jwks_file(void)
{
	char e1[300], r1[300], paths[700], err[1024], path[300], tok[TOKEN_MAX], tokr[TOKEN_MAX];
	char text[8192], other[TOKEN_MAX];
	struct token_ctx full, fullr, v;
	struct token_claims c, out;
	long long now = 1700000000;
	const char *base;
	int n, nr, no;

	make_key("ES256", "j1.pem", e1, sizeof(e1));
	make_key("RS256", "jr.pem", r1, sizeof(r1));
	/* e1 signs, r1 is a retired key still published */
	snprintf(paths, sizeof(paths), "%s:%s", e1, r1);
	CHECK(token_ctx_init(&full, paths, "ES256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	CHECK(token_ctx_init(&fullr, r1, "RS256", "https://issuer.test", "magenta", 30, err,
			     sizeof(err)) == 0);
	claims_at(&c, now);
	c.roles = ROLE_ADMIN;
	n = token_sign(&full, &c, tok, sizeof(tok));
	nr = token_sign(&fullr, &c, tokr, sizeof(tokr));
	CHECK(n > 0 && nr > 0);
	base = token_jwks(&full);

	/* the service's own text, and the same with blank space around */
	write_file("own.jwks", base, path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "https://issuer.test", "magenta", 30, err,
				    sizeof(err)) == 0);
	if (v.nkeys == 2) {
		CHECK(strcmp(token_key_kid(&v, 0), token_key_kid(&full, 0)) == 0);
		CHECK(strcmp(token_key_kid(&v, 1), token_key_kid(&full, 1)) == 0);
		CHECK(strcmp(token_key_alg(&v, 0), "ES256") == 0);
		CHECK(strcmp(token_key_alg(&v, 1), "RS256") == 0);
		/* it publishes the same JWKS again */
		CHECK(strcmp(token_jwks(&v), base) == 0);
		CHECK(token_verify(&v, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
		CHECK(out.roles == ROLE_ADMIN && strcmp(out.sub, c.sub) == 0);
		CHECK(token_verify(&v, tokr, (size_t)nr, (time_t)now, 1, &out) == TOKEN_OK);
		CHECK(token_verify(&v, tok, (size_t)n, (time_t)now + 930, 1, &out) ==
		      TOKEN_EXPIRED);
		CHECK(token_sign(&v, &c, other, sizeof(other)) == -1);
		token_ctx_release(&v);
	} else {
		CHECK(!"the service's JWKS loads");
		fprintf(stderr, "%s\n", err);
	}
	snprintf(text, sizeof(text), " \n\t%s\n\n", base);
	write_file("blank.jwks", text, path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "https://issuer.test", "magenta", 30, err,
				    sizeof(err)) == 0);
	if (v.nkeys)
		token_ctx_release(&v);
	/* without the optional alg, use and kid: the same keys */
	{
		struct json_object *doc = json_tokener_parse(base), *keys;
		json_object_object_get_ex(doc, "keys", &keys);
		for (size_t i = 0; i < 2; i++) {
			json_object_object_del(json_object_array_get_idx(keys, i), "alg");
			json_object_object_del(json_object_array_get_idx(keys, i), "use");
			json_object_object_del(json_object_array_get_idx(keys, i), "kid");
		}
		write_file("bare.jwks", json_object_to_json_string(doc), path, sizeof(path));
		json_object_put(doc);
		CHECK(token_ctx_init_verify(&v, path, "https://issuer.test", "magenta", 30, err,
					    sizeof(err)) == 0);
		CHECK(v.nkeys == 2 &&
		      token_verify(&v, tok, (size_t)n, (time_t)now, 1, &out) == TOKEN_OK);
		if (v.nkeys)
			token_ctx_release(&v);
	}
	/* a token of a key not in the file */
	{
		char e2[300];
		struct token_ctx f2;
		make_key("ES256", "j2.pem", e2, sizeof(e2));
		CHECK(token_ctx_init(&f2, e2, "ES256", "https://issuer.test", "magenta", 30, err,
				     sizeof(err)) == 0);
		no = token_sign(&f2, &c, other, sizeof(other));
		write_file("own.jwks", base, path, sizeof(path));
		CHECK(token_ctx_init_verify(&v, path, "https://issuer.test", "magenta", 30, err,
					    sizeof(err)) == 0);
		CHECK(no > 0 && token_verify(&v, other, (size_t)no, (time_t)now, 1, &out) ==
				    TOKEN_UNKNOWN_KID);
		if (v.nkeys)
			token_ctx_release(&v);
		token_ctx_release(&f2);
	}

	/* refused, each with an err naming the problem */
	CHECK(jwks_try(base, 0, "kid", "\"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\"", err,
		       sizeof(err)) == -1);
	CHECK(strstr(err, "thumbprint") != NULL && strstr(err, "key 1") != NULL);
	CHECK(jwks_try(base, 1, "kid", "\"\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "thumbprint") != NULL && strstr(err, "key 2") != NULL);
	CHECK(jwks_try(base, 0, "alg", "\"RS256\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "alg") != NULL);
	CHECK(jwks_try(base, 1, "alg", "\"ES256\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "alg") != NULL);
	CHECK(jwks_try(base, 1, "alg", "\"RS512\"", err, sizeof(err)) == -1);
	CHECK(jwks_try(base, 0, "use", "\"enc\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "use") != NULL);
	CHECK(jwks_try(base, 0, "d", "\"AAAA\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "private member \"d\"") != NULL);
	CHECK(jwks_try(base, 1, "p", "\"AAAA\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "private member \"p\"") != NULL);
	CHECK(jwks_try(base, 1, "q", "\"AAAA\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "private member \"q\"") != NULL);
	CHECK(jwks_try(base, 0, "kty", "\"oct\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "oct") != NULL && strstr(err, "not supported") != NULL);
	CHECK(jwks_try(base, 0, "kty", "\"OKP\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "OKP") != NULL);
	CHECK(jwks_try(base, 0, "kty", NULL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "kty") != NULL);
	CHECK(jwks_try(base, 0, "crv", "\"P-384\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "P-256") != NULL);
	CHECK(jwks_try(base, 0, "crv", "\"secp256k1\"", err, sizeof(err)) == -1);
	CHECK(jwks_try(base, 0, "x", "\"AAAA\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "32 bytes") != NULL);
	CHECK(jwks_try(base, 0, "y", NULL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "\"y\"") != NULL);
	CHECK(jwks_try(base, 0, "x", "\"not base64url!\"", err, sizeof(err)) == -1);
	CHECK(strstr(err, "base64url") != NULL);
	/* a point that is not on the curve (x = y = 1), kid left out */
	{
		const char one[] = "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"";
		struct json_object *doc = json_tokener_parse(base), *keys, *k;
		json_object_object_get_ex(doc, "keys", &keys);
		k = json_object_array_get_idx(keys, 0);
		json_object_object_del(k, "kid");
		json_object_object_add(k, "y", json_tokener_parse(one));
		CHECK(jwks_try(json_object_to_json_string(doc), 0, "x", one, err, sizeof(err)) ==
		      -1);
		CHECK(strstr(err, "not a valid EC public key") != NULL);
		json_object_put(doc);
	}
	/* RSA: a 1024-bit modulus, an even exponent, no n */
	{
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		BIGNUM *bn = NULL;
		unsigned char buf[128];
		char n64[200], q[210];
		int len;

		CHECK(pk && EVP_PKEY_get_bn_param(pk, "n", &bn));
		len = BN_bn2bin(bn, buf);
		sodium_bin2base64(n64, sizeof(n64), buf, (size_t)len, B64URL);
		snprintf(q, sizeof(q), "\"%s\"", n64);
		BN_free(bn);
		EVP_PKEY_free(pk);
		CHECK(jwks_try(base, 1, "n", q, err, sizeof(err)) == -1);
		CHECK(strstr(err, "2048") != NULL);
	}
	CHECK(jwks_try(base, 1, "e", "\"AAI\"", err, sizeof(err)) == -1); /* e = 2 */
	CHECK(jwks_try(base, 1, "n", NULL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "\"n\"") != NULL);
	/* a key twice, no keys, no "keys", not JSON, trailing text, not an object */
	{
		struct json_object *doc = json_tokener_parse(base), *keys;
		json_object_object_get_ex(doc, "keys", &keys);
		json_object_array_add(keys, json_object_get(json_object_array_get_idx(keys, 0)));
		write_file("dup.jwks", json_object_to_json_string(doc), path, sizeof(path));
		json_object_put(doc);
		CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
		CHECK(strstr(err, "twice") != NULL);
	}
	write_file("empty.jwks", "{\"keys\":[]}", path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "no keys") != NULL);
	write_file("nokeys.jwks", "{\"kty\":\"EC\"}", path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "\"keys\"") != NULL);
	write_file("bad.jwks", "{\"keys\":[", path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "JSON") != NULL);
	snprintf(text, sizeof(text), "%s{}", base);
	write_file("trail.jwks", text, path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "JSON") != NULL);
	write_file("arr.jwks", "{\"keys\":[1]}", path, sizeof(path));
	CHECK(token_ctx_init_verify(&v, path, "i", "a", 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not a JSON object") != NULL);
	token_ctx_release(&full);
	token_ctx_release(&fullr);
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

/* Every group, in a private directory for the key files. */
int main(void)
{
	char cmd[128];

	umask(077); /* keys are written 0600, as magentactl keygen does */
	if (sodium_init() < 0 || !mkdtemp(dir))
		return 99;
	test_b64url();
	test_der();
	test_es256();
	test_rs256();
	test_verify_only();
	test_jwks_file();
	test_nonces();
	test_claim_limits();
	test_roles();
	test_sst();
	test_refresh();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return t_done();
}
