/* Unit tests: base64url (RFC 4648), JSON string escaping, JSON string
 * comparison and ES256 signature forms (RFC 7515 A.3) of lib/jose.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "jose.h"
#include "t.h"

/* RFC 4648 section 10, in base64url without padding. */
static const struct {
	const char *bin, *text;
} rfc4648[] = {
    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

/* RFC 7515 A.3: an ES256 JWS, its signing input and the public key. */
static const char a3_input[] = "eyJhbGciOiJFUzI1NiJ9"
			       ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcG"
			       "xlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
static const char a3_sig[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/* base64url of bin by an independent encoder (OpenSSL's base64, made
 * URL-safe and stripped of padding) into out (room for 4 * len / 3 + 4). */
static void ref_b64url(char *out, const unsigned char *bin, size_t len)
{
	int n = EVP_EncodeBlock((unsigned char *)out, bin, (int)len);

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* Decode s (a C string) into out (cap bytes). */
static long dec(unsigned char *out, size_t cap, const char *s)
{
	return jose_b64url_decode(out, cap, s, strlen(s));
}

/* jose_b64url_encode, jose_b64url_dup and JOSE_B64URL_LEN: the RFC's
 * vectors, the URL-safe alphabet, room, random bytes against a reference. */
static void test_b64url_encode(void)
{
	char out[400], ref[400], small[8];
	unsigned char bin[256];
	char *d;
	int ok = 1;

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].bin);

		CHECK(JOSE_B64URL_LEN(n) == strlen(rfc4648[i].text));
		CHECK(jose_b64url_encode(out, sizeof(out), rfc4648[i].bin, n) ==
			  (long)strlen(rfc4648[i].text) &&
		      strcmp(out, rfc4648[i].text) == 0);
		d = jose_b64url_dup(rfc4648[i].bin, n);
		CHECK(d && strcmp(d, rfc4648[i].text) == 0);
		free(d);
	}
	/* 62 and 63 are '-' and '_', not '+' and '/' */
	CHECK(jose_b64url_encode(out, sizeof(out), "\xfb\xff\xbf", 3) == 4 &&
	      strcmp(out, "-_-_") == 0);
	/* the NUL needs room too; too small leaves out as it was */
	CHECK(jose_b64url_encode(small, 5, "foo", 3) == 4 && strcmp(small, "Zm9v") == 0);
	memcpy(small, "unused!", 8);
	CHECK(jose_b64url_encode(small, 4, "foo", 3) == -1);
	CHECK(jose_b64url_encode(small, 0, "", 0) == -1);
	CHECK(memcmp(small, "unused!", 8) == 0);
	CHECK(jose_b64url_encode(small, 1, "", 0) == 0 && small[0] == '\0');
	for (int i = 0; i < 500 && ok; i++) {
		size_t n = randombytes_uniform(sizeof(bin));

		randombytes_buf(bin, n);
		ref_b64url(ref, bin, n);
		ok = jose_b64url_encode(out, sizeof(out), bin, n) == (long)strlen(ref) &&
		     strcmp(out, ref) == 0;
	}
	CHECK(ok);
}

/* jose_b64url_decode: the RFC's vectors, then every way to be wrong:
 * characters of other alphabets, padding, white space, non-zero trailing
 * bits, impossible lengths, more than the room given. */
static void test_b64url_decode(void)
{
	unsigned char out[300], bin[256];
	char ref[400];
	int ok = 1;

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].bin);

		CHECK(dec(out, sizeof(out), rfc4648[i].text) == (long)n &&
		      memcmp(out, rfc4648[i].bin, n) == 0);
		/* exactly the room it needs, and one byte less */
		CHECK(dec(out, n, rfc4648[i].text) == (long)n);
		if (n > 0)
			CHECK(dec(out, n - 1, rfc4648[i].text) == -1);
	}
	CHECK(dec(out, sizeof(out), "-_-_") == 3 && memcmp(out, "\xfb\xff\xbf", 3) == 0);
	CHECK(dec(out, sizeof(out), "+/+/") == -1); /* base64, not base64url */
	CHECK(dec(out, sizeof(out), "Zm9v+") == -1);
	CHECK(dec(out, sizeof(out), "Zg==") == -1); /* padding */
	CHECK(dec(out, sizeof(out), "Zm8=") == -1);
	CHECK(dec(out, sizeof(out), "Zm9v====") == -1);
	CHECK(dec(out, sizeof(out), "Zm 9") == -1); /* white space */
	CHECK(dec(out, sizeof(out), "Zm9v\n") == -1);
	CHECK(dec(out, sizeof(out), " Zm9v") == -1);
	CHECK(dec(out, sizeof(out), "Zm9v.") == -1); /* a JWS separator */
	CHECK(dec(out, sizeof(out), "Zh") == -1);    /* trailing bits set */
	CHECK(dec(out, sizeof(out), "Zm9") == -1);
	CHECK(dec(out, sizeof(out), "Z") == -1); /* impossible lengths */
	CHECK(dec(out, sizeof(out), "Zm9vY") == -1);
	CHECK(jose_b64url_decode(out, sizeof(out), "Zm9v\0Zm9v", 9) == -1); /* a NUL inside */
	CHECK(dec(out, sizeof(out), "\xc3\xa9") == -1);			    /* not ASCII */
	CHECK(dec(out, 2, "Zm9v") == -1);				    /* overlong for out */
	CHECK(dec(out, 0, "") == 0);
	for (int i = 0; i < 500 && ok; i++) {
		size_t n = randombytes_uniform(sizeof(bin));

		randombytes_buf(bin, n);
		ref_b64url(ref, bin, n);
		ok = dec(out, sizeof(out), ref) == (long)n && memcmp(out, bin, n) == 0;
	}
	CHECK(ok);
}

/* jose_json_escape: quotes, backslashes and control characters escaped,
 * the rest as is, at an offset; what json-c reads back is the input; too
 * little room is -1. */
static void test_json_escape(void)
{
	char buf[512], all[128], small[16];
	struct json_object *o;
	long n;

	memcpy(buf, "pre", 4);
	n = jose_json_escape(buf, sizeof(buf), 3, "a\"b\\c\001d\n\x1f/\xc3\xa9");
	CHECK(n == 32);
	CHECK(strcmp(buf, "prea\\\"b\\\\c\\u0001d\\u000a\\u001f/\xc3\xa9") == 0);
	CHECK(jose_json_escape(buf, sizeof(buf), 0, "") == 0 && buf[0] == '\0');
	/* every ASCII character reads back as itself */
	for (int c = 1; c < 128; c++)
		all[c - 1] = (char)c;
	all[127] = '\0';
	buf[0] = '"';
	n = jose_json_escape(buf, sizeof(buf) - 2, 1, all);
	CHECK(n > 0);
	if (n > 0) {
		memcpy(buf + n, "\"", 2);
		o = json_tokener_parse(buf);
		CHECK(o && json_object_is_type(o, json_type_string) &&
		      strcmp(json_object_get_string(o), all) == 0);
		json_object_put(o);
	}
	/* no room: -1, never past cap */
	memset(small, 'x', sizeof(small));
	CHECK(jose_json_escape(small, 8, 0, "abcdefgh") == -1);
	CHECK(small[8] == 'x');
	CHECK(jose_json_escape(small, 8, 0, "a") == 1 && strcmp(small, "a") == 0);
	CHECK(jose_json_escape(small, 8, 8, "") == -1);
}

/* jose_str_is: whole strings only, of type string only. */
static void test_str_is(void)
{
	struct json_object *o =
	    json_tokener_parse("[\"ES256\",\"ES\",\"ES2567\",\"a\\u0000b\",256,null]");

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(jose_str_is(json_object_array_get_idx(o, 0), "ES256") == 1);
	CHECK(jose_str_is(json_object_array_get_idx(o, 0), "es256") == 0);
	CHECK(jose_str_is(json_object_array_get_idx(o, 0), "ES") == 0);
	CHECK(jose_str_is(json_object_array_get_idx(o, 1), "ES256") == 0);
	CHECK(jose_str_is(json_object_array_get_idx(o, 2), "ES256") == 0);
	/* "\u0000" does not end it */
	CHECK(jose_str_is(json_object_array_get_idx(o, 3), "a") == 0);
	CHECK(jose_str_is(json_object_array_get_idx(o, 4), "256") == 0);
	CHECK(jose_str_is(json_object_array_get_idx(o, 5), "") == 0);
	CHECK(jose_str_is(NULL, "") == 0);
	json_object_put(o);
}

/* The public key of RFC 7515 A.3 (x and y base64url); NULL on failure. */
static EVP_PKEY *a3_key(void)
{
	unsigned char point[65];
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;

	point[0] = 0x04;
	if (bld && ctx && dec(point + 1, 32, a3_x) == 32 && dec(point + 33, 32, a3_y) == 32 &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* Does der (len bytes) verify over text with pk (ES256)? */
static int es256_verifies(EVP_PKEY *pk, const char *text, const unsigned char *der, size_t len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
		 EVP_DigestVerify(md, der, len, (const unsigned char *)text, strlen(text)) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* RFC 7515 A.3: its payload decodes as printed, its r || s signature
 * becomes DER that libcrypto verifies with its key, and back. */
static void test_rfc7515_a3(void)
{
	unsigned char raw[64], back[64], der[72], pl[200];
	const char *dot = strchr(a3_input, '.');
	EVP_PKEY *pk = a3_key();
	size_t dl;
	long n;

	CHECK(pk != NULL);
	n = jose_b64url_decode(pl, sizeof(pl), dot + 1, strlen(dot + 1));
	CHECK(n == (long)strlen(a3_payload) && memcmp(pl, a3_payload, (size_t)n) == 0);
	n = jose_b64url_decode(pl, sizeof(pl), a3_input, (size_t)(dot - a3_input));
	CHECK(n == 15 && memcmp(pl, "{\"alg\":\"ES256\"}", 15) == 0);
	CHECK(dec(raw, sizeof(raw), a3_sig) == 64);
	dl = jose_es256_raw_to_der(der, raw);
	CHECK(dl >= 8 && dl <= 72);
	CHECK(pk && es256_verifies(pk, a3_input, der, dl));
	CHECK(jose_es256_der_to_raw(back, der, dl) == 0 && memcmp(back, raw, 64) == 0);
	/* a flipped bit of r does not verify */
	raw[5] ^= 1;
	dl = jose_es256_raw_to_der(der, raw);
	CHECK(pk && !es256_verifies(pk, a3_input, der, dl));
	EVP_PKEY_free(pk);
}

/* DER <-> r||s against libcrypto's own encoder, leading zeros and high bits
 * included; malformed DER refused. */
static void test_der(void)
{
	unsigned char raw[64], back[64], der[72], bad[80], *ref = NULL;
	size_t dl;
	int ok = 1;

	for (int i = 0; i < 2000 && ok; i++) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r, *s;
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
		dl = jose_es256_raw_to_der(der, raw);
		ok = rl > 0 && (size_t)rl == dl && memcmp(der, ref, dl) == 0 &&
		     jose_es256_der_to_raw(back, ref, (size_t)rl) == 0 &&
		     memcmp(back, raw, 64) == 0;
		OPENSSL_free(ref);
		ECDSA_SIG_free(es);
	}
	CHECK(ok);
	/* the longest form: both with a sign byte, 72 bytes */
	memset(raw, 0xff, sizeof(raw));
	CHECK(jose_es256_raw_to_der(der, raw) == 72);
	CHECK(jose_es256_der_to_raw(back, der, 72) == 0 && memcmp(back, raw, 64) == 0);

	randombytes_buf(raw, sizeof(raw));
	raw[0] = 0x7f;
	raw[32] = 0x7f;
	dl = jose_es256_raw_to_der(der, raw); /* 30 44 02 20 r 02 20 s */
	CHECK(dl == 70 && jose_es256_der_to_raw(back, der, dl) == 0);
	CHECK(jose_es256_der_to_raw(back, der, dl - 1) == -1); /* truncated */
	CHECK(jose_es256_der_to_raw(back, der, 4) == -1);
	CHECK(jose_es256_der_to_raw(back, der, 0) == -1);
	memcpy(bad, der, dl);
	bad[0] = 0x31; /* a SET, not a SEQUENCE */
	CHECK(jose_es256_der_to_raw(back, bad, dl) == -1);
	memcpy(bad, der, dl);
	bad[2] = 0x03; /* a BIT STRING, not an INTEGER */
	CHECK(jose_es256_der_to_raw(back, bad, dl) == -1);
	memcpy(bad, der, dl);
	bad[dl] = 0;
	bad[1]++;
	CHECK(jose_es256_der_to_raw(back, bad, dl + 1) == -1); /* a trailing byte */
	memcpy(bad, der, dl);
	bad[3] = 0; /* an empty r */
	CHECK(jose_es256_der_to_raw(back, bad, dl) == -1);
	/* r of 33 bytes without a zero first: more than 256 bits */
	{
		unsigned char big[] = {0x30, 0x26, 0x02, 0x21, 0x01};
		unsigned char in[2 + 0x26];

		memset(in, 0x11, sizeof(in));
		memcpy(in, big, sizeof(big));
		in[2 + 2 + 0x21] = 0x02;
		in[2 + 2 + 0x21 + 1] = 1;
		CHECK(jose_es256_der_to_raw(back, in, sizeof(in)) == -1);
		in[4] = 0; /* with its zero first it is 32 bytes: fine */
		CHECK(jose_es256_der_to_raw(back, in, sizeof(in)) == 0);
	}
	/* the long length form (0x81 ...) is not what libcrypto makes for P-256 */
	{
		unsigned char lf[3 + 6] = {0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
		CHECK(jose_es256_der_to_raw(back, lf, sizeof(lf)) == -1);
	}
}

/* Every group. */
int main(void)
{
	if (sodium_init() < 0)
		return 99;
	test_b64url_encode();
	test_b64url_decode();
	test_json_escape();
	test_str_is();
	test_rfc7515_a3();
	test_der();
	return t_done();
}
