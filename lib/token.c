/* token: JWT access tokens with parsed EVP keys, and the JWKS. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "log.h"
#include "roles.h"
#include "token.h"

#define ES256_SIGLEN 64
#define HEADER_MAX 1024 /* decoded header bytes we are willing to parse */
/* token_sign's payload: the claims head ({"iss":...,"aud":...,) and the rest
 * at its longest -- its fixed text (62 bytes), three integers, the ids and a
 * username of TOKEN_USERNAME_MAX printable bytes each escaped to two at most,
 * the roles claim (ROLES_CLAIM_MAX), json_escape's slack.  token_ctx_init
 * refuses an iss and aud that leave too little room, so a login never fails
 * to sign (the limit is enforced where events are parsed).  Base64url of
 * PAYLOAD_MAX stays within TOKEN_MAX. */
#define PAYLOAD_MAX 2048
/* ,"roles":[...] with every role of roles.h (18 bytes for ["admin"]): grow
 * it with roles.h, at the expense of jwt_issuer's room (test_claim_limits
 * signs them all at the longest) */
#define ROLES_CLAIM_MAX 32
/* ,"sst":"<TOKEN_SST_LEN hex>" */
#define SST_CLAIM_MAX (9 + TOKEN_SST_LEN)
#define CLAIMS_TAIL_MAX                                                                            \
	(62 + 3 * 20 + 2 * (3 * TOKEN_ID_MAX + TOKEN_USERNAME_MAX) + ROLES_CLAIM_MAX +           \
	 SST_CLAIM_MAX + 16)

/* A token whose signature and claims were verified, remembered by the
 * SHA-256 of its text.  Clients present one access token many times over
 * its lifetime; the signature cannot change, so it need not be checked
 * again.  Time is checked on every use. */
struct token_seen {
	unsigned char sha[32];
	int used;
	struct token_claims claims;
};

struct token_key {
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *sign; /* NULL for a public key */
	EVP_PKEY_CTX *verify;
	int ec;	       /* 1: ES256, 0: RS256 */
	size_t siglen; /* raw JWS signature length */
	char alg[8];
	char kid[TOKEN_KID_LEN + 1];
	char *header; /* base64url of the JOSE header */
	size_t header_len;
	struct json_object *jwk; /* the public JWK */
};

/* Fill err with msg and the first queued libcrypto error, and clear the queue. */
static void crypto_err(char *err, size_t errlen, const char *msg)
{
	char ebuf[256];
	unsigned long e = ERR_get_error();

	if (e) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		snprintf(err, errlen, "%s: %s", msg, ebuf);
	} else {
		snprintf(err, errlen, "%s", msg);
	}
	ERR_clear_error();
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Characters of base64url without padding for n bytes. */
#define B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* base64url without padding of bin into out (room for
 * B64URL_LEN(len) + 1 bytes); returns the length written.  Tokens are not
 * secret from their bearer, so a table lookup (not constant time) is fine. */
static size_t b64url_encode(char *out, const unsigned char *bin, size_t len)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= len; i += 3) {
		unsigned v = (unsigned)bin[i] << 16 | (unsigned)bin[i + 1] << 8 | bin[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)bin[i] << 16;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)bin[i] << 16 | (unsigned)bin[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* base64url-encode bin into a fresh string (caller frees); NULL when out of memory. */
static char *b64url_dup(const unsigned char *bin, size_t len)
{
	char *s = malloc(B64URL_LEN(len) + 1);

	if (s)
		b64url_encode(s, bin, len);
	return s;
}

/* The value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strictly decode base64url (no padding, no other characters, zero
 * trailing bits) into out (at most cap bytes); decoded length or -1. */
long token_b64url_decode(unsigned char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0, i;
	unsigned acc = 0;
	int bits = 0;

	if (len % 4 == 1 || (len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-zero bits after the last byte: not canonical */
		return -1;
	return (long)o;
}
#define b64url_decode token_b64url_decode

/* Convert an ECDSA signature in DER (SEQUENCE of two INTEGERs, as
 * libcrypto makes) to JWS form, r || s of 32 bytes each; 0 or -1. */
int token_es256_der_to_raw(unsigned char raw[64], const unsigned char *der, size_t len)
{
	size_t p = 2;

	if (len < 8 || der[0] != 0x30 || der[1] != len - 2 || der[1] >= 0x80)
		return -1;
	for (int k = 0; k < 2; k++) {
		size_t n;
		const unsigned char *v;

		if (p + 2 > len || der[p] != 0x02)
			return -1;
		n = der[p + 1];
		v = der + p + 2;
		if (n == 0 || n > 33 || p + 2 + n > len)
			return -1;
		p += 2 + n;
		while (n > 0 && *v == 0) /* the sign byte and any zero padding */
			v++, n--;
		if (n > 32)
			return -1;
		memset(raw + 32 * k, 0, 32 - n);
		memcpy(raw + 32 * k + 32 - n, v, n);
	}
	return p == len ? 0 : -1;
}

/* The reverse: r || s to DER into der (at least 72 bytes); the DER length. */
size_t token_es256_raw_to_der(unsigned char der[72], const unsigned char raw[64])
{
	size_t o = 2;

	der[0] = 0x30;
	for (int k = 0; k < 2; k++) {
		const unsigned char *v = raw + 32 * k;
		size_t n = 32;

		while (n > 1 && *v == 0) /* minimal: no leading zero bytes */
			v++, n--;
		der[o++] = 0x02;
		if (*v & 0x80) { /* keep it positive */
			der[o++] = (unsigned char)(n + 1);
			der[o++] = 0;
		} else {
			der[o++] = (unsigned char)n;
		}
		memcpy(der + o, v, n);
		o += n;
	}
	der[1] = (unsigned char)(o - 2);
	return o;
}

/* Append s to buf as JSON string content (no quotes); new offset or -1 when full. */
static long json_escape(char *buf, size_t cap, size_t o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 7 >= cap)
			return -1;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(buf + o, "\\u00", 4);
			buf[o + 4] = hex[c >> 4];
			buf[o + 5] = hex[c & 15];
			o += 6;
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return (long)o;
}

/* A BIGNUM parameter of pk as big-endian bytes, left-padded to pad bytes
 * when pad > 0; base64url in a fresh string, or NULL. */
static char *bn_param_b64(EVP_PKEY *pk, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *s = NULL;

	if (!EVP_PKEY_get_bn_param(pk, name, &bn))
		return NULL;
	if (pad > 0)
		n = BN_bn2binpad(bn, buf, pad);
	else
		n = BN_num_bytes(bn) <= (int)sizeof(buf) ? BN_bn2bin(bn, buf) : -1;
	if (n > 0)
		s = b64url_dup(buf, (size_t)n);
	BN_free(bn);
	return s;
}

/* Build the public JWK, the RFC 7638 thumbprint (kid) and the header of k. */
static int key_describe(struct token_key *k, char *err, size_t errlen)
{
	char *a = NULL, *b = NULL, canon[2048], hdr[256];
	unsigned char sha[crypto_hash_sha256_BYTES];
	int rc = -1, n;

	if (k->ec) {
		a = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		if (!a || !b) {
			crypto_err(err, errlen, "cannot read the EC public point");
			goto out;
		}
		/* members in lexicographic order, no white space (RFC 7638 3.2) */
		n = snprintf(canon, sizeof(canon),
			     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
	} else {
		a = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		if (!a || !b) {
			crypto_err(err, errlen, "cannot read the RSA public key");
			goto out;
		}
		n = snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b,
			     a);
	}
	if (n < 0 || (size_t)n >= sizeof(canon)) {
		snprintf(err, errlen, "public key too large");
		goto out;
	}
	crypto_hash_sha256(sha, (const unsigned char *)canon, (size_t)n);
	b64url_encode(k->kid, sha, sizeof(sha));

	k->jwk = json_object_new_object();
	json_object_object_add(k->jwk, "kty", json_object_new_string(k->ec ? "EC" : "RSA"));
	if (k->ec) {
		json_object_object_add(k->jwk, "crv", json_object_new_string("P-256"));
		json_object_object_add(k->jwk, "x", json_object_new_string(a));
		json_object_object_add(k->jwk, "y", json_object_new_string(b));
	} else {
		json_object_object_add(k->jwk, "n", json_object_new_string(a));
		json_object_object_add(k->jwk, "e", json_object_new_string(b));
	}
	json_object_object_add(k->jwk, "use", json_object_new_string("sig"));
	json_object_object_add(k->jwk, "alg", json_object_new_string(k->alg));
	json_object_object_add(k->jwk, "kid", json_object_new_string(k->kid));

	n = snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", k->alg,
		     k->kid);
	k->header = b64url_dup((const unsigned char *)hdr, (size_t)n);
	if (!k->header) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	k->header_len = strlen(k->header);
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

/* Never prompt for a pass phrase: encrypted keys are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0;
}

/* Check the type and size of k->pkey (what names it in messages), set
 * its algorithm, make its verification (and, with priv, signing) contexts
 * and describe it (key_describe).  0, or -1 with err. */
static int key_setup(struct token_key *k, int priv, const char *what, char *err, size_t errlen)
{
	char group[64];

	if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC) {
		if (!EVP_PKEY_get_group_name(k->pkey, group, sizeof(group), NULL) ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			snprintf(err, errlen, "%s: EC keys must be on curve P-256 (ES256)", what);
			return -1;
		}
		k->ec = 1;
		k->siglen = ES256_SIGLEN;
		snprintf(k->alg, sizeof(k->alg), "ES256");
	} else if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_bits(k->pkey) < 2048 || EVP_PKEY_get_bits(k->pkey) > 4096) {
			snprintf(err, errlen, "%s: RSA keys must have 2048 to 4096 bits", what);
			return -1;
		}
		k->siglen = (size_t)EVP_PKEY_get_size(k->pkey);
		snprintf(k->alg, sizeof(k->alg), "RS256");
	} else {
		snprintf(err, errlen, "%s: only EC P-256 and RSA keys are supported", what);
		return -1;
	}

	/* contexts made once and reused for every token */
	k->verify = EVP_PKEY_CTX_new(k->pkey, NULL);
	if (!k->verify || EVP_PKEY_verify_init(k->verify) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(k->verify, EVP_sha256()) <= 0 ||
	    (!k->ec && EVP_PKEY_CTX_set_rsa_padding(k->verify, RSA_PKCS1_PADDING) <= 0)) {
		crypto_err(err, errlen, "cannot prepare verification");
		return -1;
	}
	if (priv) {
		k->sign = EVP_PKEY_CTX_new(k->pkey, NULL);
		if (!k->sign || EVP_PKEY_sign_init(k->sign) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(k->sign, EVP_sha256()) <= 0 ||
		    (!k->ec && EVP_PKEY_CTX_set_rsa_padding(k->sign, RSA_PKCS1_PADDING) <= 0)) {
			crypto_err(err, errlen, "cannot prepare signing");
			return -1;
		}
	}
	return key_describe(k, err, errlen);
}

/* Read one PEM file into k: a private key (mode KEY_PRIVATE), a private or
 * a public one (KEY_ANY), or only a public one (KEY_PUBLIC: a verifier has
 * no business holding a signing key).  0, or -1 with err. */
enum key_mode { KEY_PRIVATE, KEY_ANY, KEY_PUBLIC };
static int key_load(struct token_key *k, const char *path, enum key_mode mode, char *err,
		    size_t errlen)
{
	FILE *f = fopen(path, "r");
	char what[1100];
	struct stat st;
	int priv = mode != KEY_PUBLIC;

	memset(k, 0, sizeof(*k));
	if (!f) {
		snprintf(err, errlen, "cannot open key '%s': %s", path, strerror(errno));
		return -1;
	}
	if (mode != KEY_PUBLIC)
		k->pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	if (!k->pkey && mode != KEY_PRIVATE) {
		ERR_clear_error();
		rewind(f);
		k->pkey = PEM_read_PUBKEY(f, NULL, no_passphrase, NULL);
		priv = 0;
	}
	if (k->pkey && priv && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warnx("event=key_permissions path=\"%s\" mode=%04o msg=\"private key readable "
			  "by others\"",
			  path, (unsigned)(st.st_mode & 07777));
	fclose(f);
	if (!k->pkey) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "key '%s' is not a %s", path,
			 mode == KEY_PRIVATE ? "private PEM key (an encrypted key is not supported)"
			 : mode == KEY_ANY   ? "private or public PEM key (an encrypted key is not "
					       "supported)"
					   : "PEM public key (SubjectPublicKeyInfo, \"BEGIN PUBLIC "
					     "KEY\")");
		crypto_err(err, errlen, msg);
		return -1;
	}
	snprintf(what, sizeof(what), "key '%s'", path);
	return key_setup(k, priv, what, err, errlen);
}

/* Free what key_load made. */
static void key_free(struct token_key *k)
{
	EVP_PKEY_CTX_free(k->sign);
	EVP_PKEY_CTX_free(k->verify);
	EVP_PKEY_free(k->pkey);
	free(k->header);
	json_object_put(k->jwk);
	memset(k, 0, sizeof(*k));
}

/* Release everything t holds. */
void token_ctx_release(struct token_ctx *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		key_free(&t->keys[i]);
	free(t->keys);
	free(t->iss);
	free(t->aud);
	free(t->jwks);
	free(t->claims_head);
	EVP_MD_CTX_free(t->mdctx);
	EVP_MD_free(t->md);
	free(t->seen);
	memset(t, 0, sizeof(*t));
}

/* Start t: zeroed, with copies of iss and aud and a checked leeway.  0,
 * or -1 with err (t then holds nothing that needs releasing but what
 * token_ctx_release frees). */
static int ctx_begin(struct token_ctx *t, const char *iss, const char *aud, long leeway, char *err,
		     size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (leeway < 0 || leeway > TOKEN_LEEWAY_MAX) {
		snprintf(err, errlen, "leeway %ld outside 0-%d s", leeway, TOKEN_LEEWAY_MAX);
		return -1;
	}
	t->leeway = leeway;
	t->iss = strdup(iss);
	t->aud = strdup(aud);
	if (!t->iss || !t->aud) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Room for one more key in t; the new slot, zeroed, or NULL with err. */
static struct token_key *ctx_grow(struct token_ctx *t, char *err, size_t errlen)
{
	struct token_key *nk = realloc(t->keys, (t->nkeys + 1) * sizeof(*nk));

	if (!nk) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->keys = nk;
	memset(&nk[t->nkeys], 0, sizeof(*nk));
	return &nk[t->nkeys];
}

/* Is the kid of the last key of t one of an earlier key? */
static int ctx_last_is_dup(const struct token_ctx *t)
{
	for (size_t i = 0; i + 1 < t->nkeys; i++)
		if (strcmp(t->keys[i].kid, t->keys[t->nkeys - 1].kid) == 0)
			return 1;
	return 0;
}

/* Load the ':'-separated PEM files of paths into t (the first in mode
 * first, the others in mode rest); conf names the list in messages.  0, or
 * -1 with err. */
static int ctx_load_pems(struct token_ctx *t, const char *paths, enum key_mode first,
			 enum key_mode rest, const char *conf, char *err, size_t errlen)
{
	char *list = strdup(paths), *save = NULL, *p;
	int rc = -1;

	if (!list) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		struct token_key *k = ctx_grow(t, err, errlen);
		if (!k)
			goto out;
		if (key_load(k, p, t->nkeys > 0 ? rest : first, err, errlen) != 0) {
			key_free(k);
			goto out;
		}
		t->nkeys++;
		if (ctx_last_is_dup(t)) {
			snprintf(err, errlen, "key '%s' is listed twice in %s", p, conf);
			goto out;
		}
	}
	if (t->nkeys == 0) {
		snprintf(err, errlen, "%s names no key file", conf);
		goto out;
	}
	rc = 0;
out:
	free(list);
	return rc;
}

/* Finish t once its keys are loaded: the JWKS text, the claims head, the
 * digest context and the cache of verified tokens.  0, or -1 with err. */
static int ctx_finish(struct token_ctx *t, char *err, size_t errlen)
{
	struct json_object *jwks = json_object_new_object(), *arr = json_object_new_array();
	char head[2048];
	long o;
	int rc = -1;

	for (size_t i = 0; i < t->nkeys; i++)
		json_object_array_add(arr, json_object_get(t->keys[i].jwk));
	json_object_object_add(jwks, "keys", arr);
	t->jwks = strdup(json_object_to_json_string_ext(jwks, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));

	/* {"iss":"...","aud":"...", : the fixed start of every payload */
	memcpy(head, "{\"iss\":\"", 8);
	o = json_escape(head, sizeof(head), 8, t->iss);
	if (o >= 0 && (size_t)o + 9 < sizeof(head)) {
		memcpy(head + o, "\",\"aud\":\"", 9);
		o = json_escape(head, sizeof(head), (size_t)o + 9, t->aud);
	}
	if (o < 0 || (size_t)o + 2 + CLAIMS_TAIL_MAX > PAYLOAD_MAX) {
		snprintf(err, errlen,
			 "jwt_issuer or jwt_audience too long (%d bytes in all at most)",
			 PAYLOAD_MAX - CLAIMS_TAIL_MAX - 19);
		goto out;
	}
	memcpy(head + o, "\",", 3);
	t->claims_head = strdup(head);

	t->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	t->mdctx = EVP_MD_CTX_new();
	t->seen = calloc(TOKEN_SEEN_SLOTS, sizeof(struct token_seen));
	if (!t->jwks || !t->claims_head || !t->md || !t->mdctx || !t->seen) {
		crypto_err(err, errlen, "out of memory or no SHA-256");
		goto out;
	}
	rc = 0;
out:
	json_object_put(jwks);
	return rc;
}

/* Keys, JWKS, claim prefix and digest context. */
int token_ctx_init(struct token_ctx *t, const char *paths, const char *sign_alg, const char *iss,
		   const char *aud, long leeway, char *err, size_t errlen)
{
	if (ctx_begin(t, iss, aud, leeway, err, errlen) != 0 ||
	    ctx_load_pems(t, paths, KEY_PRIVATE, KEY_ANY, "jwt_keys", err, errlen) != 0)
		goto fail;
	if (strcmp(t->keys[0].alg, sign_alg) != 0) {
		snprintf(err, errlen,
			 "the signing key (first in jwt_keys) is %s, but jwt_alg is %s",
			 t->keys[0].alg, sign_alg);
		goto fail;
	}
	if (ctx_finish(t, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	token_ctx_release(t);
	return -1;
}

#define JWKS_FILE_MAX (1024 * 1024) /* a JWKS file larger than this is refused */

static int claim_is(struct json_object *v, const char *want);

/* A required base64url member of the JWK j, decoded into out (cap bytes);
 * the length, or -1 with err (what names the key). */
static long jwk_b64(struct json_object *j, const char *name, unsigned char *out, size_t cap,
		    const char *what, char *err, size_t errlen)
{
	struct json_object *v;
	long n;

	if (!json_object_object_get_ex(j, name, &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "%s: no \"%s\" string", what, name);
		return -1;
	}
	n = b64url_decode(out, cap, json_object_get_string(v),
			  (size_t)json_object_get_string_len(v));
	if (n <= 0) {
		snprintf(err, errlen, "%s: \"%s\" is not base64url of at most %zu bytes", what,
			 name, cap);
		return -1;
	}
	return n;
}

/* Is the optional string member name of j absent, or equal to want? */
static int jwk_opt_is(struct json_object *j, const char *name, const char *want)
{
	struct json_object *v;

	return !json_object_object_get_ex(j, name, &v) || claim_is(v, want);
}

/* The public key of the JWK j as an EVP_PKEY (OpenSSL 3's
 * EVP_PKEY_fromdata), checked by EVP_PKEY_public_check; NULL with err.
 * Only EC P-256 and RSA public keys: anything with private members, of
 * another type or curve, or whose alg or use does not fit is refused. */
static EVP_PKEY *jwk_pkey(struct json_object *j, const char *what, char *err, size_t errlen)
{
	static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
	struct json_object *v;
	unsigned char a[512], b[512], point[65];
	long na, nb;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const char *kty, *alg;
	char msg[1300];
	int ec;

	if (!json_object_is_type(j, json_type_object)) {
		snprintf(err, errlen, "%s is not a JSON object", what);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
		if (json_object_object_get_ex(j, private_members[i], NULL)) {
			snprintf(err, errlen,
				 "%s has the private member \"%s\": publish only public keys", what,
				 private_members[i]);
			return NULL;
		}
	if (!json_object_object_get_ex(j, "kty", &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "%s: no \"kty\" string", what);
		return NULL;
	}
	kty = json_object_get_string(v);
	if (claim_is(v, "EC")) {
		ec = 1;
	} else if (claim_is(v, "RSA")) {
		ec = 0;
	} else {
		snprintf(err, errlen, "%s: kty \"%.20s\" is not supported (EC P-256 or RSA only)",
			 what, kty);
		return NULL;
	}
	alg = ec ? "ES256" : "RS256";
	if (!jwk_opt_is(j, "alg", alg)) {
		snprintf(err, errlen, "%s: an %s key must have alg \"%s\"", what, kty, alg);
		return NULL;
	}
	if (!jwk_opt_is(j, "use", "sig")) {
		snprintf(err, errlen, "%s: \"use\" must be \"sig\"", what);
		return NULL;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		goto crypto;
	if (ec) {
		if (!json_object_object_get_ex(j, "crv", &v) || !claim_is(v, "P-256")) {
			snprintf(err, errlen, "%s: EC keys must have crv \"P-256\" (ES256)", what);
			goto out;
		}
		na = jwk_b64(j, "x", a, sizeof(a), what, err, errlen);
		nb = na >= 0 ? jwk_b64(j, "y", b, sizeof(b), what, err, errlen) : -1;
		if (na < 0 || nb < 0)
			goto out;
		if (na != 32 || nb != 32) {
			snprintf(err, errlen, "%s: x and y of a P-256 key are 32 bytes each", what);
			goto out;
		}
		point[0] = 0x04; /* uncompressed: 04 || x || y */
		memcpy(point + 1, a, 32);
		memcpy(point + 33, b, 32);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						      sizeof(point)))
			goto crypto;
	} else {
		na = jwk_b64(j, "n", a, sizeof(a), what, err, errlen);
		nb = na >= 0 ? jwk_b64(j, "e", b, sizeof(b), what, err, errlen) : -1;
		if (na < 0 || nb < 0)
			goto out;
		n = BN_bin2bn(a, (int)na, NULL);
		e = BN_bin2bn(b, (int)nb, NULL);
		if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto crypto;
	}
	snprintf(msg, sizeof(msg), "%s: not a valid %s public key", what, kty);
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		crypto_err(err, errlen, msg);
		goto out;
	}
	EVP_PKEY_CTX_free(ctx);
	/* the point on the curve; RSA's n odd, e odd and > 1 */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
		crypto_err(err, errlen, msg);
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	goto out;
crypto:
	crypto_err(err, errlen, "out of memory in libcrypto");
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

/* Load the keys of the JWKS document text (len bytes, read from path)
 * into t: each checked by jwk_pkey and key_setup, its "kid" (if any) the
 * thumbprint recomputed here.  0, or -1 with err. */
static int ctx_load_jwks(struct token_ctx *t, const char *path, const char *text, size_t len,
			 char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *doc = NULL, *keys, *v;
	char what[1100];
	size_t n, end;
	int rc = -1;

	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	end = doc ? json_tokener_get_parse_end(tok) : 0;
	if (!doc || json_tokener_get_error(tok) != json_tokener_success ||
	    end + strspn(text + end, " \t\r\n") != len ||
	    !json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "JWKS '%s' is not one JSON object", path);
		goto out;
	}
	if (!json_object_object_get_ex(doc, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		snprintf(err, errlen, "JWKS '%s' has no \"keys\" array", path);
		goto out;
	}
	n = json_object_array_length(keys);
	if (n == 0) {
		snprintf(err, errlen, "JWKS '%s' has no keys", path);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *j = json_object_array_get_idx(keys, i);
		struct token_key *k = ctx_grow(t, err, errlen);

		if (!k)
			goto out;
		snprintf(what, sizeof(what), "JWKS '%s' key %zu", path, i + 1);
		k->pkey = jwk_pkey(j, what, err, errlen);
		if (!k->pkey || key_setup(k, 0, what, err, errlen) != 0) {
			key_free(k);
			goto out;
		}
		t->nkeys++;
		if (json_object_object_get_ex(j, "kid", &v) && !claim_is(v, k->kid)) {
			snprintf(err, errlen,
				 "%s: its kid is not its RFC 7638 thumbprint (which is \"%s\")",
				 what, k->kid);
			goto out;
		}
		if (ctx_last_is_dup(t)) {
			snprintf(err, errlen, "%s is listed twice", what);
			goto out;
		}
	}
	rc = 0;
out:
	json_object_put(doc);
	json_tokener_free(tok);
	return rc;
}

/* The text of the file at source when it is a JWKS (its first non-blank
 * byte is '{'): a fresh NUL-terminated string the caller frees, its length
 * in *len.  NULL when it is not one (PEM files, or not one readable file:
 * the PEM loader then says why); NULL with *len set to SIZE_MAX and err
 * filled when it cannot be read whole. */
static char *jwks_read(const char *source, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(source, "r");
	char *buf = NULL;
	size_t n = 0;
	int c;

	*len = 0;
	if (!f)
		return NULL;
	while ((c = getc(f)) == ' ' || c == '\t' || c == '\r' || c == '\n')
		;
	if (c != '{')
		goto out;
	buf = malloc(JWKS_FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		*len = SIZE_MAX;
		goto out;
	}
	buf[n++] = '{';
	n += fread(buf + n, 1, JWKS_FILE_MAX + 1 - n, f);
	if (n > JWKS_FILE_MAX || ferror(f) || memchr(buf, '\0', n)) {
		snprintf(err, errlen, "JWKS '%s' is unreadable, holds a NUL or exceeds %d bytes",
			 source, JWKS_FILE_MAX);
		free(buf);
		buf = NULL;
		*len = SIZE_MAX;
		goto out;
	}
	buf[n] = '\0';
	*len = n;
out:
	fclose(f);
	return buf;
}

/* Public keys only: one JWKS file, or PEM files. */
int token_ctx_init_verify(struct token_ctx *t, const char *source, const char *iss, const char *aud,
			  long leeway, char *err, size_t errlen)
{
	size_t len = 0;
	char *jwks = NULL;

	if (ctx_begin(t, iss, aud, leeway, err, errlen) != 0)
		goto fail;
	jwks = jwks_read(source, &len, err, errlen);
	if (len == SIZE_MAX)
		goto fail;
	if (jwks ? ctx_load_jwks(t, source, jwks, len, err, errlen) != 0
		 : ctx_load_pems(t, source, KEY_PUBLIC, KEY_PUBLIC, "jwt_public_keys", err,
				 errlen) != 0)
		goto fail;
	if (ctx_finish(t, err, errlen) != 0)
		goto fail;
	free(jwks);
	return 0;
fail:
	free(jwks);
	token_ctx_release(t);
	return -1;
}

/* The JWKS text. */
const char *token_jwks(const struct token_ctx *t)
{
	return t->jwks;
}

/* Algorithm of key i. */
const char *token_key_alg(const struct token_ctx *t, size_t i)
{
	return t->keys[i].alg;
}

/* kid of key i. */
const char *token_key_kid(const struct token_ctx *t, size_t i)
{
	return t->keys[i].kid;
}

/* SHA-256 of data with the reused context; 0 or -1. */
static int digest(const struct token_ctx *t, const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (!EVP_DigestInit_ex2(t->mdctx, t->md, NULL) || !EVP_DigestUpdate(t->mdctx, data, len) ||
	    !EVP_DigestFinal_ex(t->mdctx, out, &n) || n != 32) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Sign md with k through EVP: the JWS signature (r || s for ES256) into
 * sig (512 bytes), its length into siglen; 0 or -1. */
static int sign_evp(const struct token_key *k, const unsigned char md[32], unsigned char sig[512],
		    size_t *siglen)
{
	unsigned char der[600];
	size_t n = sizeof(der);

	if (EVP_PKEY_sign(k->sign, der, &n, md, 32) <= 0) {
		ERR_clear_error();
		return -1;
	}
	if (k->ec) {
		/* JWS wants r || s, 32 bytes each, not DER (RFC 7518 3.4) */
		if (token_es256_der_to_raw(sig, der, n) != 0)
			return -1;
		*siglen = ES256_SIGLEN;
	} else {
		if (n > 512)
			return -1;
		memcpy(sig, der, n);
		*siglen = n;
	}
	return 0;
}

/* Sign with keys[0]. */
int token_sign(struct token_ctx *t, const struct token_claims *c, char *out, size_t outlen)
{
	struct token_key *k = t->nkeys > 0 ? &t->keys[0] : NULL;
	char payload[PAYLOAD_MAX];
	unsigned char md[32], sig[512];
	struct json_object *roles;
	const char *rtext;
	size_t o, siglen, rlen;
	long p;
	int w;

	if (!k || !k->sign) /* a verify-only context (token_ctx_init_verify) */
		return -1;
	/* payload: a fixed head, escaped strings, integers */
	p = (long)strlen(t->claims_head);
	if ((size_t)p + 16 >= sizeof(payload))
		return -1;
	memcpy(payload, t->claims_head, (size_t)p + 1);
	w = snprintf(payload + p, sizeof(payload) - (size_t)p, "\"sub\":\"");
	p = json_escape(payload, sizeof(payload), (size_t)(p + w), c->sub);
	if (p < 0)
		return -1;
	w = snprintf(payload + p, sizeof(payload) - (size_t)p,
		     "\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"", c->iat, c->nbf,
		     c->exp);
	if (w < 0 || (size_t)(p + w) >= sizeof(payload))
		return -1;
	p = json_escape(payload, sizeof(payload), (size_t)(p + w), c->jti);
	if (p < 0 || (size_t)p + 9 >= sizeof(payload))
		return -1;
	memcpy(payload + p, "\",\"sid\":\"", 9);
	p = json_escape(payload, sizeof(payload), (size_t)p + 9, c->sid);
	if (p < 0 || (size_t)p + 14 >= sizeof(payload))
		return -1;
	memcpy(payload + p, "\",\"username\":\"", 14);
	p = json_escape(payload, sizeof(payload), (size_t)p + 14, c->username);
	if (p < 0)
		return -1;
	if (c->sst[0]) {
		if (strlen(c->sst) != TOKEN_SST_LEN || (size_t)p + SST_CLAIM_MAX + 1 >= sizeof(payload))
			return -1;
		memcpy(payload + p, "\",\"sst\":\"", 9);
		memcpy(payload + p + 9, c->sst, TOKEN_SST_LEN);
		p += SST_CLAIM_MAX;
	}
	/* "roles": always present, [] for none, so a verifier can tell a
	 * token without roles from one of an issuer that does not write them */
	roles = roles_to_json(c->roles);
	rtext = json_object_to_json_string_ext(roles, JSON_C_TO_STRING_PLAIN);
	rlen = rtext ? strlen(rtext) : 0;
	w = rtext && 10 + rlen <= ROLES_CLAIM_MAX && (size_t)p + rlen + 14 < sizeof(payload);
	if (w) {
		memcpy(payload + p, "\",\"roles\":", 10);
		memcpy(payload + p + 10, rtext, rlen);
		p += 10 + (long)rlen;
		memcpy(payload + p, "}", 2);
		p += 1;
	}
	json_object_put(roles);
	if (!w)
		return -1;

	/* header.payload */
	if (k->header_len + 1 + B64URL_LEN((size_t)p) + 1 + B64URL_LEN(k->siglen) + 1 > outlen)
		return -1;
	memcpy(out, k->header, k->header_len);
	o = k->header_len;
	out[o++] = '.';
	o += b64url_encode(out + o, (const unsigned char *)payload, (size_t)p);

	if (digest(t, out, o, md) != 0)
		return -1;
	if (sign_evp(k, md, sig, &siglen) != 0)
		return -1;
	out[o++] = '.';
	o += b64url_encode(out + o, sig, siglen);
	sodium_memzero(md, sizeof(md));
	return (int)o;
}

/* Copy a string member of obj into buf (cap bytes with NUL); 0 ok, 1
 * absent, -1 wrong type or too long or empty. */
static int claim_str(struct json_object *obj, const char *key, char *buf, size_t cap)
{
	struct json_object *v;
	int len;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	len = json_object_get_string_len(v);
	if (len <= 0 || (size_t)len >= cap || memchr(json_object_get_string(v), '\0', (size_t)len))
		return -1;
	memcpy(buf, json_object_get_string(v), (size_t)len + 1);
	return 0;
}

/* Read a time member (iat, nbf, exp); 0 ok, 1 absent, -1 another type or
 * outside [0, TOKEN_TIME_MAX], so that no sum with the leeway can overflow. */
static int claim_time(struct json_object *obj, const char *key, long long *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 1;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	errno = 0;
	*out = (long long)json_object_get_int64(v);
	return errno || *out < 0 || *out > TOKEN_TIME_MAX ? -1 : 0;
}

/* Is v a string equal to want, byte for byte over its whole length (a
 * "\u0000" inside v does not end it early, as it would for strcmp)? */
static int claim_is(struct json_object *v, const char *want)
{
	size_t n = strlen(want);

	return json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == n &&
	       memcmp(json_object_get_string(v), want, n) == 0;
}

/* Decode a base64url part and parse it as a JSON object; NULL when it is not one. */
static struct json_object *part_json(const char *s, size_t len)
{
	unsigned char buf[TOKEN_MAX];
	struct json_tokener *tok;
	struct json_object *obj;
	long n = b64url_decode(buf, sizeof(buf) - 1, s, len);

	if (n <= 0 || memchr(buf, '\0', (size_t)n))
		return NULL;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, (const char *)buf, (int)n);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != (size_t)n ||
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* Does the aud claim (string or array of strings) name want? */
static int aud_ok(struct json_object *payload, const char *want)
{
	struct json_object *v;

	if (!json_object_object_get_ex(payload, "aud", &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_string))
		return claim_is(v, want);
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (claim_is(json_object_array_get_idx(v, i), want))
				return 1;
	}
	return 0;
}

/* Check the JOSE header and the signature; TOKEN_OK with *key set. */
static enum token_status verify_signature(const struct token_ctx *t, const char *jwt, size_t hlen,
					  size_t signed_len, const char *sig64, size_t siglen64,
					  const struct token_key **key)
{
	struct json_object *hdr = part_json(jwt, hlen), *v;
	const struct token_key *k = NULL;
	const char *alg;
	unsigned char sig[600], md[32], der[200];
	const unsigned char *dp = sig;
	long n;
	size_t dlen = 0;
	enum token_status st = TOKEN_MALFORMED;

	if (!hdr || hlen > HEADER_MAX * 4 / 3 + 4)
		goto out;
	/* we understand no critical extension (RFC 7515 4.1.11) */
	if (json_object_object_get_ex(hdr, "crit", NULL))
		goto out;
	if (json_object_object_get_ex(hdr, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcasecmp(json_object_get_string(v), "JWT") != 0))
		goto out;
	if (!json_object_object_get_ex(hdr, "alg", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		st = TOKEN_BAD_ALG;
		goto out;
	}
	alg = json_object_get_string(v);
	if (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0) {
		st = TOKEN_BAD_ALG; /* none, HS256 and anything else */
		goto out;
	}
	if (!json_object_object_get_ex(hdr, "kid", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		st = TOKEN_UNKNOWN_KID;
		goto out;
	}
	for (size_t i = 0; i < t->nkeys && !k; i++)
		if (strcmp(t->keys[i].kid, json_object_get_string(v)) == 0)
			k = &t->keys[i];
	if (!k) {
		st = TOKEN_UNKNOWN_KID;
		goto out;
	}
	/* the algorithm is the key's own, never the one the token asks for */
	if (strcmp(alg, k->alg) != 0) {
		st = TOKEN_BAD_ALG;
		goto out;
	}
	n = b64url_decode(sig, sizeof(sig), sig64, siglen64);
	if (n < 0 || (size_t)n != k->siglen) {
		st = n < 0 ? TOKEN_MALFORMED : TOKEN_BAD_SIGNATURE;
		goto out;
	}
	if (k->ec) {
		dlen = token_es256_raw_to_der(der, sig);
		dp = der;
	} else {
		dlen = (size_t)n;
	}
	if (digest(t, jwt, signed_len, md) != 0 ||
	    EVP_PKEY_verify(k->verify, dp, dlen, md, 32) != 1) {
		ERR_clear_error();
		st = TOKEN_BAD_SIGNATURE;
		goto out;
	}
	*key = k;
	st = TOKEN_OK;
out:
	json_object_put(hdr);
	return st;
}

/* Verify signature, then claims; no time checks. */
static enum token_status verify_full(const struct token_ctx *t, const char *jwt, size_t len,
				     struct token_claims *out)
{
	const char *d1, *d2;
	const struct token_key *k = NULL;
	struct json_object *pl = NULL, *v;
	enum token_status st;

	if (len == 0 || len > TOKEN_MAX || memchr(jwt, '\0', len))
		return TOKEN_MALFORMED;
	d1 = memchr(jwt, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
		return TOKEN_MALFORMED;

	st = verify_signature(t, jwt, (size_t)(d1 - jwt), (size_t)(d2 - jwt), d2 + 1,
			      len - (size_t)(d2 + 1 - jwt), &k);
	if (st != TOKEN_OK)
		return st;
	snprintf(out->kid, sizeof(out->kid), "%s", k->kid);

	pl = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!pl)
		return TOKEN_MALFORMED;
	st = TOKEN_BAD_CLAIMS;
	if (claim_str(pl, "sub", out->sub, sizeof(out->sub)) != 0 ||
	    claim_str(pl, "sid", out->sid, sizeof(out->sid)) != 0 ||
	    claim_str(pl, "jti", out->jti, sizeof(out->jti)) < 0 ||
	    claim_str(pl, "username", out->username, sizeof(out->username)) < 0 ||
	    claim_time(pl, "exp", &out->exp) != 0 || claim_time(pl, "nbf", &out->nbf) < 0 ||
	    claim_time(pl, "iat", &out->iat) < 0)
		goto out;
	/* sst: absent, or TOKEN_SST_LEN lower-case hex digits */
	if (claim_str(pl, "sst", out->sst, sizeof(out->sst)) < 0 ||
	    (out->sst[0] && (strlen(out->sst) != TOKEN_SST_LEN ||
			     strspn(out->sst, "0123456789abcdef") != TOKEN_SST_LEN)))
		goto out;
	/* absent: no roles (a token of an older issuer); anything but an
	 * array of known names is refused, never read as fewer roles */
	if (json_object_object_get_ex(pl, "roles", &v) && roles_from_json(v, &out->roles) != 0)
		goto out;
	if (!json_object_object_get_ex(pl, "iss", &v) || !claim_is(v, t->iss)) {
		st = TOKEN_BAD_ISSUER;
		goto out;
	}
	if (!aud_ok(pl, t->aud)) {
		st = TOKEN_BAD_AUDIENCE;
		goto out;
	}
	st = TOKEN_OK;
out:
	json_object_put(pl);
	return st;
}

/* Cached signature and claims check, then the time window. */
enum token_status token_verify(const struct token_ctx *t, const char *jwt, size_t len, time_t now,
			       int check_time, struct token_claims *out)
{
	struct token_seen *seen = NULL;
	unsigned char sha[32];
	long long skew = t->leeway, at = now < 0 ? 0 : (long long)now;
	enum token_status st;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > TOKEN_MAX)
		return TOKEN_MALFORMED;
	if (t->seen && digest(t, jwt, len, sha) == 0) {
		seen = &((struct token_seen *)
			     t->seen)[(sha[0] | (unsigned)sha[1] << 8) % TOKEN_SEEN_SLOTS];
		if (seen->used && memcmp(seen->sha, sha, sizeof(sha)) == 0) {
			*out = seen->claims;
			goto timecheck;
		}
	}
	st = verify_full(t, jwt, len, out);
	if (st != TOKEN_OK)
		return st;
	if (seen) {
		memcpy(seen->sha, sha, sizeof(sha));
		seen->claims = *out;
		seen->used = 1;
	}
timecheck:
	/* differences, not sums (exp + leeway overflowed for an exp near
	 * INT64_MAX): the claims and at lie in [0, LLONG_MAX], the claims below
	 * TOKEN_TIME_MAX, so none of these overflows */
	if (check_time) {
		if (at - out->exp >= skew)
			return TOKEN_EXPIRED;
		if (out->nbf - at > skew || out->iat - at > skew)
			return TOKEN_NOT_YET_VALID;
	}
	return TOKEN_OK;
}

/* Words for the logs. */
const char *token_status_text(enum token_status st)
{
	switch (st) {
	case TOKEN_OK: return "ok";
	case TOKEN_MALFORMED: return "malformed";
	case TOKEN_BAD_ALG: return "bad_alg";
	case TOKEN_UNKNOWN_KID: return "unknown_kid";
	case TOKEN_BAD_SIGNATURE: return "bad_signature";
	case TOKEN_EXPIRED: return "expired";
	case TOKEN_NOT_YET_VALID: return "not_yet_valid";
	case TOKEN_BAD_ISSUER: return "bad_issuer";
	case TOKEN_BAD_AUDIENCE: return "bad_audience";
	case TOKEN_BAD_CLAIMS: return "bad_claims";
	}
	return "unknown";
}

/* Generate a key and write it as PKCS#8 PEM. */
int token_keygen_pem(const char *alg, FILE *f, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	int rc = -1;

	if (strcmp(alg, "ES256") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(alg, "RS256") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else {
		snprintf(err, errlen, "unknown algorithm '%s' (ES256 or RS256)", alg);
		return -1;
	}
	if (!pk) {
		crypto_err(err, errlen, "key generation failed");
		return -1;
	}
	if (!PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)) {
		crypto_err(err, errlen, "cannot write the key");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc;
}

/* BLAKE2b-128 of the label and the stamp, in hex. */
void token_stamp_digest(const char *stamp, char out[TOKEN_SST_LEN + 1])
{
	static const char label[] = "magenta-sst-v1";
	unsigned char h[TOKEN_SST_LEN / 2];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)label, sizeof(label));
	crypto_generichash_update(&st, (const unsigned char *)stamp, strlen(stamp));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, TOKEN_SST_LEN + 1, h, sizeof(h));
}
