/* token_key: the keys of access tokens: PEM files, JWKs and JWKS files read
 * and checked, each key's public JWK, RFC 7638 kid and JOSE header, the
 * JWKS text, and key generation. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "jose.h"
#include "log.h"
#include "token_key.h"

/* The first queued error, then an empty queue. */
void token_key_crypto_err(char *err, size_t errlen, const char *msg)
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
		s = jose_b64url_dup(buf, (size_t)n);
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
			token_key_crypto_err(err, errlen, "cannot read the EC public point");
			goto out;
		}
		/* members in lexicographic order, no white space (RFC 7638 3.2) */
		n = snprintf(canon, sizeof(canon),
			     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
	} else {
		a = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		if (!a || !b) {
			token_key_crypto_err(err, errlen, "cannot read the RSA public key");
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
	jose_b64url_encode(k->kid, sizeof(k->kid), sha, sizeof(sha)); /* TOKEN_KID_LEN: room */

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
	k->header = jose_b64url_dup(hdr, (size_t)n);
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
		k->siglen = TOKEN_ES256_SIGLEN;
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
		token_key_crypto_err(err, errlen, "cannot prepare verification");
		return -1;
	}
	if (priv) {
		k->sign = EVP_PKEY_CTX_new(k->pkey, NULL);
		if (!k->sign || EVP_PKEY_sign_init(k->sign) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(k->sign, EVP_sha256()) <= 0 ||
		    (!k->ec && EVP_PKEY_CTX_set_rsa_padding(k->sign, RSA_PKCS1_PADDING) <= 0)) {
			token_key_crypto_err(err, errlen, "cannot prepare signing");
			return -1;
		}
	}
	return key_describe(k, err, errlen);
}

/* Read one PEM file into k in mode (token_key.h).  0, or -1 with err. */
static int key_load(struct token_key *k, const char *path, enum token_key_mode mode, char *err,
		    size_t errlen)
{
	FILE *f = fopen(path, "r");
	char what[1100];
	struct stat st;
	int priv = mode != TOKEN_KEY_PUBLIC;

	memset(k, 0, sizeof(*k));
	if (!f) {
		snprintf(err, errlen, "cannot open key '%s': %s", path, strerror(errno));
		return -1;
	}
	if (mode != TOKEN_KEY_PUBLIC)
		k->pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	if (!k->pkey && mode != TOKEN_KEY_PRIVATE) {
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
			 mode == TOKEN_KEY_PRIVATE
			     ? "private PEM key (an encrypted key is not supported)"
			 : mode == TOKEN_KEY_ANY
			     ? "private or public PEM key (an encrypted key is not "
			       "supported)"
			     : "PEM public key (SubjectPublicKeyInfo, \"BEGIN PUBLIC "
			       "KEY\")");
		token_key_crypto_err(err, errlen, msg);
		return -1;
	}
	snprintf(what, sizeof(what), "key '%s'", path);
	return key_setup(k, priv, what, err, errlen);
}

/* Free what key_load (or a JWKS key) made. */
void token_key_free(struct token_key *k)
{
	EVP_PKEY_CTX_free(k->sign);
	EVP_PKEY_CTX_free(k->verify);
	EVP_PKEY_free(k->pkey);
	free(k->header);
	json_object_put(k->jwk);
	memset(k, 0, sizeof(*k));
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

/* One key after another, each appended to t->keys as it loads. */
int token_key_load_pems(struct token_ctx *t, const char *paths, enum token_key_mode first,
			enum token_key_mode rest, const char *conf, char *err, size_t errlen)
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
			token_key_free(k);
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

#define JWKS_FILE_MAX (1024 * 1024) /* a JWKS file larger than this is refused */

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
	n = jose_b64url_decode(out, cap, json_object_get_string(v),
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

	return !json_object_object_get_ex(j, name, &v) || jose_str_is(v, want);
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
	if (jose_str_is(v, "EC")) {
		ec = 1;
	} else if (jose_str_is(v, "RSA")) {
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
		if (!json_object_object_get_ex(j, "crv", &v) || !jose_str_is(v, "P-256")) {
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
		token_key_crypto_err(err, errlen, msg);
		goto out;
	}
	EVP_PKEY_CTX_free(ctx);
	/* the point on the curve; RSA's n odd, e odd and > 1 */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
		token_key_crypto_err(err, errlen, msg);
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	goto out;
crypto:
	token_key_crypto_err(err, errlen, "out of memory in libcrypto");
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
			token_key_free(k);
			goto out;
		}
		t->nkeys++;
		if (json_object_object_get_ex(j, "kid", &v) && !jose_str_is(v, k->kid)) {
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

/* A JWKS file, else PEM files. */
int token_key_load_public(struct token_ctx *t, const char *source, char *err, size_t errlen)
{
	size_t len = 0;
	char *jwks = jwks_read(source, &len, err, errlen);
	int rc;

	if (len == SIZE_MAX)
		return -1;
	rc = jwks ? ctx_load_jwks(t, source, jwks, len, err, errlen)
		  : token_key_load_pems(t, source, TOKEN_KEY_PUBLIC, TOKEN_KEY_PUBLIC,
					"jwt_public_keys", err, errlen);
	free(jwks);
	return rc;
}

/* {"keys":[...]}, without escaped slashes. */
char *token_key_jwks(const struct token_ctx *t)
{
	struct json_object *jwks = json_object_new_object(), *arr = json_object_new_array();
	char *text;

	for (size_t i = 0; i < t->nkeys; i++)
		json_object_array_add(arr, json_object_get(t->keys[i].jwk));
	json_object_object_add(jwks, "keys", arr);
	text = strdup(json_object_to_json_string_ext(jwks, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(jwks);
	return text;
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
		token_key_crypto_err(err, errlen, "key generation failed");
		return -1;
	}
	if (!PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)) {
		token_key_crypto_err(err, errlen, "cannot write the key");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc;
}
