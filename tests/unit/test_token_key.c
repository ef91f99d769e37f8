/* Unit tests: key loading (PEM files, JWKS files), verify-only contexts,
 * RFC 7638 thumbprints (kids), the JWKS text, key generation. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "jose.h"
#include "roles.h"
#include "t.h"
#include "token.h"
#include "token_key.h"
#include "token_t.h"

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
		CHECK(jose_b64url_encode(n64, sizeof(n64), buf, (size_t)len) > 0);
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

/* token_keygen_pem: keys of each algorithm that load and sign, distinct
 * each time; an unknown algorithm is refused. */
static void test_keygen(void)
{
	char e1[300], e2[300], r1[300], err[512];
	struct token_ctx a, b, r;
	FILE *f;

	make_key("ES256", "g1.pem", e1, sizeof(e1));
	make_key("ES256", "g2.pem", e2, sizeof(e2));
	make_key("RS256", "gr.pem", r1, sizeof(r1));
	CHECK(token_ctx_init(&a, e1, "ES256", "i", "a", 0, err, sizeof(err)) == 0);
	CHECK(token_ctx_init(&b, e2, "ES256", "i", "a", 0, err, sizeof(err)) == 0);
	CHECK(token_ctx_init(&r, r1, "RS256", "i", "a", 0, err, sizeof(err)) == 0);
	if (a.nkeys == 1 && b.nkeys == 1 && r.nkeys == 1) {
		CHECK(strcmp(token_key_kid(&a, 0), token_key_kid(&b, 0)) != 0);
		CHECK(strcmp(token_key_alg(&r, 0), "RS256") == 0);
		CHECK(EVP_PKEY_get_bits(r.keys[0].pkey) == 3072);
		CHECK(strcmp(a.keys[0].alg, "ES256") == 0 && a.keys[0].sign != NULL);
		token_ctx_release(&a);
		token_ctx_release(&b);
		token_ctx_release(&r);
	}
	f = tmpfile();
	CHECK(f != NULL);
	if (f) {
		err[0] = '\0';
		CHECK(token_keygen_pem("HS256", f, err, sizeof(err)) == -1);
		CHECK(strstr(err, "HS256") != NULL);
		CHECK(ftell(f) == 0);
		fclose(f);
	}
}

/* Every group, in a private directory for the key files. */
int main(void)
{
	char cmd[128];

	umask(077); /* keys are written 0600, as magentactl keygen does */
	if (sodium_init() < 0 || !mkdtemp(dir))
		return 99;
	test_rs256();
	test_verify_only();
	test_jwks_file();
	test_keygen();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return t_done();
}
