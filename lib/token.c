/* token: JWT access tokens: the context, signing, verification and claims
 * (the keys: token_key.c; the encodings: jose.c). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "jose.h"
#include "roles.h"
#include "token.h"
#include "token_key.h"

#define HEADER_MAX 1024 /* decoded header bytes we are willing to parse */
/* token_sign's payload: the claims head ({"iss":...,"aud":...,) and the rest
 * at its longest -- its fixed text (62 bytes), three integers, the ids and a
 * username of TOKEN_USERNAME_MAX printable bytes each escaped to two at most,
 * the roles claim (ROLES_CLAIM_MAX), jose_json_escape's slack.  token_ctx_init
 * refuses an iss and aud that leave too little room, so a login never fails
 * to sign (the limit is enforced where events are parsed).  Base64url of
 * PAYLOAD_MAX stays within TOKEN_MAX. */
#define PAYLOAD_MAX 2560
/* ,"roles":[...] with every role of roles.h (18 bytes for ["admin"]): grow
 * it with roles.h, at the expense of jwt_issuer's room (test_claim_limits
 * signs them all at the longest) */
#define ROLES_CLAIM_MAX 32
/* ,"sst":"<TOKEN_SST_LEN hex>" */
#define SST_CLAIM_MAX (9 + TOKEN_SST_LEN)
/* ,"client_id":"...","scope":"..." (ids and scopes need no escaping, but
 * are escaped all the same: room for two bytes each) */
#define CLIENT_CLAIMS_MAX (15 + 2 * TOKEN_CLIENT_ID_MAX + 11 + 2 * TOKEN_SCOPE_MAX)
#define CLAIMS_TAIL_MAX                                                                            \
	(62 + 3 * 20 + 2 * (3 * TOKEN_ID_MAX + TOKEN_USERNAME_MAX) + ROLES_CLAIM_MAX +           \
	 SST_CLAIM_MAX + CLIENT_CLAIMS_MAX + 16)

/* A token whose signature and claims were verified, remembered by the
 * SHA-256 of its text.  Clients present one access token many times over
 * its lifetime; the signature cannot change, so it need not be checked
 * again.  Time is checked on every use. */
struct token_seen {
	unsigned char sha[32];
	int used;
	struct token_claims claims;
};

/* Release everything t holds. */
void token_ctx_release(struct token_ctx *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		token_key_free(&t->keys[i]);
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

/* Finish t once its keys are loaded: the JWKS text, the claims head, the
 * digest context and the cache of verified tokens.  0, or -1 with err. */
static int ctx_finish(struct token_ctx *t, char *err, size_t errlen)
{
	char head[2048];
	long o;

	t->jwks = token_key_jwks(t);

	/* {"iss":"...","aud":"...", : the fixed start of every payload */
	memcpy(head, "{\"iss\":\"", 8);
	o = jose_json_escape(head, sizeof(head), 8, t->iss);
	if (o >= 0 && (size_t)o + 9 < sizeof(head)) {
		memcpy(head + o, "\",\"aud\":\"", 9);
		o = jose_json_escape(head, sizeof(head), (size_t)o + 9, t->aud);
	}
	if (o < 0 || (size_t)o + 2 + CLAIMS_TAIL_MAX > PAYLOAD_MAX) {
		snprintf(err, errlen,
			 "jwt_issuer or jwt_audience too long (%d bytes in all at most)",
			 PAYLOAD_MAX - CLAIMS_TAIL_MAX - 19);
		return -1;
	}
	memcpy(head + o, "\",", 3);
	t->claims_head = strdup(head);

	t->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	t->mdctx = EVP_MD_CTX_new();
	t->seen = calloc(TOKEN_SEEN_SLOTS, sizeof(struct token_seen));
	if (!t->jwks || !t->claims_head || !t->md || !t->mdctx || !t->seen) {
		token_key_crypto_err(err, errlen, "out of memory or no SHA-256");
		return -1;
	}
	return 0;
}

/* Keys, JWKS, claim prefix and digest context. */
int token_ctx_init(struct token_ctx *t, const char *paths, const char *sign_alg, const char *iss,
		   const char *aud, long leeway, char *err, size_t errlen)
{
	if (ctx_begin(t, iss, aud, leeway, err, errlen) != 0 ||
	    token_key_load_pems(t, paths, TOKEN_KEY_PRIVATE, TOKEN_KEY_ANY, "jwt_keys", err,
				errlen) != 0)
		goto fail;
	if (sign_alg && strcmp(t->keys[0].alg, sign_alg) != 0) {
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

/* Public keys only: one JWKS file, or PEM files. */
int token_ctx_init_verify(struct token_ctx *t, const char *source, const char *iss, const char *aud,
			  long leeway, char *err, size_t errlen)
{
	if (ctx_begin(t, iss, aud, leeway, err, errlen) != 0 ||
	    token_key_load_public(t, source, err, errlen) != 0 || ctx_finish(t, err, errlen) != 0) {
		token_ctx_release(t);
		return -1;
	}
	return 0;
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
		if (jose_es256_der_to_raw(sig, der, n) != 0)
			return -1;
		*siglen = TOKEN_ES256_SIGLEN;
	} else {
		if (n > 512)
			return -1;
		memcpy(sig, der, n);
		*siglen = n;
	}
	return 0;
}

static int sign_payload(struct token_ctx *t, const struct token_key *k, const char *payload,
			size_t p, char *out, size_t outlen);

/* Sign with keys[0]. */
int token_sign(struct token_ctx *t, const struct token_claims *c, char *out, size_t outlen)
{
	struct token_key *k = t->nkeys > 0 ? &t->keys[0] : NULL;
	char payload[PAYLOAD_MAX];
	struct json_object *roles;
	const char *rtext;
	size_t rlen;
	long p;
	int w;

	if (!k || !k->sign) /* a verify-only context (token_ctx_init_verify) */
		return -1;
	if (t->sign_until && (long long)time(NULL) >= t->sign_until)
		return -1; /* its successor should sign by now: fail closed */
	/* payload: a fixed head, escaped strings, integers */
	p = (long)strlen(t->claims_head);
	if ((size_t)p + 16 >= sizeof(payload))
		return -1;
	memcpy(payload, t->claims_head, (size_t)p + 1);
	w = snprintf(payload + p, sizeof(payload) - (size_t)p, "\"sub\":\"");
	p = jose_json_escape(payload, sizeof(payload), (size_t)(p + w), c->sub);
	if (p < 0)
		return -1;
	w = snprintf(payload + p, sizeof(payload) - (size_t)p,
		     "\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"", c->iat, c->nbf,
		     c->exp);
	if (w < 0 || (size_t)(p + w) >= sizeof(payload))
		return -1;
	p = jose_json_escape(payload, sizeof(payload), (size_t)(p + w), c->jti);
	if (p < 0 || (size_t)p + 9 >= sizeof(payload))
		return -1;
	memcpy(payload + p, "\",\"sid\":\"", 9);
	p = jose_json_escape(payload, sizeof(payload), (size_t)p + 9, c->sid);
	if (p < 0 || (size_t)p + 14 >= sizeof(payload))
		return -1;
	memcpy(payload + p, "\",\"username\":\"", 14);
	p = jose_json_escape(payload, sizeof(payload), (size_t)p + 14, c->username);
	if (p < 0)
		return -1;
	if (c->sst[0]) {
		if (strlen(c->sst) != TOKEN_SST_LEN || (size_t)p + SST_CLAIM_MAX + 1 >= sizeof(payload))
			return -1;
		memcpy(payload + p, "\",\"sst\":\"", 9);
		memcpy(payload + p + 9, c->sst, TOKEN_SST_LEN);
		p += SST_CLAIM_MAX;
	}
	if (c->client_id[0]) {
		if ((size_t)p + 15 >= sizeof(payload))
			return -1;
		memcpy(payload + p, "\",\"client_id\":\"", 15);
		p = jose_json_escape(payload, sizeof(payload), (size_t)p + 15, c->client_id);
		if (p < 0 || (size_t)p + 11 >= sizeof(payload))
			return -1;
		memcpy(payload + p, "\",\"scope\":\"", 11);
		p = jose_json_escape(payload, sizeof(payload), (size_t)p + 11, c->scope);
		if (p < 0)
			return -1;
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
	return sign_payload(t, k, payload, (size_t)p, out, outlen);
}

/* header.payload.signature of the p bytes of payload, with key k, into
 * out; its length, or -1. */
static int sign_payload(struct token_ctx *t, const struct token_key *k, const char *payload,
			size_t p, char *out, size_t outlen)
{
	unsigned char md[32], sig[512];
	size_t o, siglen;
	long n;

	/* header.payload */
	if (k->header_len + 1 + JOSE_B64URL_LEN((size_t)p) + 1 + JOSE_B64URL_LEN(k->siglen) + 1 >
	    outlen)
		return -1;
	memcpy(out, k->header, k->header_len);
	o = k->header_len;
	out[o++] = '.';
	n = jose_b64url_encode(out + o, outlen - o, payload, (size_t)p);
	if (n < 0)
		return -1;
	o += (size_t)n;

	if (digest(t, out, o, md) != 0)
		return -1;
	if (sign_evp(k, md, sig, &siglen) != 0)
		return -1;
	out[o++] = '.';
	n = jose_b64url_encode(out + o, outlen - o, sig, siglen);
	sodium_memzero(md, sizeof(md));
	return n < 0 ? -1 : (int)(o + (size_t)n);
}

int token_sign_id(struct token_ctx *t, const struct token_id_claims *c, char *out, size_t outlen)
{
	struct token_key *k = t->nkeys > 0 ? &t->keys[0] : NULL;
	struct json_object *o;
	const char *text;
	int n = -1;

	if (!k || !k->sign || !c->sub || !c->sid || !c->client_id)
		return -1;
	if (t->sign_until && (long long)time(NULL) >= t->sign_until)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "iss", json_object_new_string(t->iss));
	json_object_object_add(o, "sub", json_object_new_string(c->sub));
	json_object_object_add(o, "aud", json_object_new_string(c->client_id));
	json_object_object_add(o, "azp", json_object_new_string(c->client_id));
	json_object_object_add(o, "iat", json_object_new_int64(c->iat));
	json_object_object_add(o, "exp", json_object_new_int64(c->exp));
	json_object_object_add(o, "sid", json_object_new_string(c->sid));
	if (c->access_token) {
		/* the left half of the SHA-256 of the access token's ASCII
		 * text, base64url (OIDC Core 3.1.3.6; ES256 and RS256 both
		 * hash with SHA-256) */
		unsigned char h[32];
		char b64[JOSE_B64URL_LEN(16) + 1];

		if (digest(t, c->access_token, c->access_len, h) != 0 ||
		    jose_b64url_encode(b64, sizeof(b64), h, 16) < 0) {
			json_object_put(o);
			return -1;
		}
		json_object_object_add(o, "at_hash", json_object_new_string(b64));
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (text && strlen(text) < PAYLOAD_MAX)
		n = sign_payload(t, k, text, strlen(text), out, outlen);
	json_object_put(o);
	return n;
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

/* Decode a base64url part and parse it as a JSON object; NULL when it is not one. */
static struct json_object *part_json(const char *s, size_t len)
{
	unsigned char buf[TOKEN_MAX];
	struct json_tokener *tok;
	struct json_object *obj;
	long n = jose_b64url_decode(buf, sizeof(buf) - 1, s, len);

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
		return jose_str_is(v, want);
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (jose_str_is(json_object_array_get_idx(v, i), want))
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
	n = jose_b64url_decode(sig, sizeof(sig), sig64, siglen64);
	if (n < 0 || (size_t)n != k->siglen) {
		st = n < 0 ? TOKEN_MALFORMED : TOKEN_BAD_SIGNATURE;
		goto out;
	}
	if (k->ec) {
		dlen = jose_es256_raw_to_der(der, sig);
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
	/* an OAuth client's token: both, or neither */
	if (claim_str(pl, "client_id", out->client_id, sizeof(out->client_id)) < 0 ||
	    claim_str(pl, "scope", out->scope, sizeof(out->scope)) < 0 ||
	    !out->client_id[0] != !out->scope[0])
		goto out;
	/* absent: no roles (a token of an older issuer); anything but an
	 * array of known names is refused, never read as fewer roles */
	if (json_object_object_get_ex(pl, "roles", &v) && roles_from_json(v, &out->roles) != 0)
		goto out;
	if (!json_object_object_get_ex(pl, "iss", &v) || !jose_str_is(v, t->iss)) {
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
	/* a key past its end (a retired key of a key ring, token_key.h) is no
	 * longer a key, even if the process has not read its ring again */
	for (size_t i = 0; i < t->nkeys; i++)
		if (t->keys[i].not_after && at >= t->keys[i].not_after &&
		    strcmp(t->keys[i].kid, out->kid) == 0)
			return TOKEN_UNKNOWN_KID;
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
