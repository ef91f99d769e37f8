/* token: access tokens (JWT, ES256 or RS256) signed and verified with keys
 * parsed once per process through libcrypto's EVP API, and the JWKS that
 * publishes their public halves.
 *
 * A token is header.payload.signature, each base64url without padding.
 * The header is {"alg","typ":"JWT","kid"} where kid is the key's RFC 7638
 * JWK thumbprint; the payload carries iss aud sub iat nbf exp jti sid
 * username.  Verification pins the algorithm to the one of the key the kid
 * names (so "none" and HS256-with-the-public-key are refused), checks the
 * signature, then iss and aud, then exp and nbf (with leeway).
 *
 * The keys are read and described by token_key.c, the encodings (base64url,
 * JSON escaping, ES256 signature forms) are jose.c's.  One struct token_ctx
 * per process; not thread-safe (the FastCGI programs are single-threaded). */
#ifndef MAGENTA_TOKEN_H
#define MAGENTA_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "validate.h"

#define TOKEN_MAX 4096	 /* longest token accepted or produced, bytes */
#define TOKEN_KID_LEN 43 /* base64url of a SHA-256 thumbprint */
#define TOKEN_ID_MAX 64	 /* sub, sid, jti */
#define TOKEN_USERNAME_MAX USERNAME_BYTES_MAX /* the one limit (validate.h) */
#define TOKEN_SST_LEN 32 /* the "sst" claim: hex of 16 bytes (token_stamp_digest) */
#define TOKEN_CLIENT_ID_MAX 64 /* an OAuth client id (oauth_client.h) */
#define TOKEN_SCOPE_MAX 32     /* "openid profile email" */
/* iat, nbf and exp outside [0, TOKEN_TIME_MAX] (9999-12-31T23:59:59Z, well
 * below 2^53: exact as a JSON number) make a token TOKEN_BAD_CLAIMS. */
#define TOKEN_TIME_MAX 253402300799LL
#define TOKEN_LEEWAY_MAX 86400 /* seconds; token_ctx_init refuses more */

struct token_key; /* one parsed key (token_key.h) */

struct token_ctx {
	struct token_key *keys; /* keys[0] signs; all verify */
	size_t nkeys;
	char *iss, *aud;
	long leeway;
	char *jwks;	   /* {"keys":[...]} text, made once */
	char *claims_head; /* {"iss":...,"aud":..., escaped once */
	void *md, *mdctx;  /* EVP_MD (SHA-256) and an EVP_MD_CTX, reused */
	void *seen;	   /* tokens already verified (see token_verify) */
	/* a key ring's signing key stops signing then, its successor's start
	 * (epoch seconds; 0: never): a process that failed to read its ring
	 * again fails closed */
	long long sign_until;
};

#define TOKEN_SEEN_SLOTS 256

struct token_claims {
	char sub[TOKEN_ID_MAX + 1]; /* user id */
	char sid[TOKEN_ID_MAX + 1]; /* session id */
	char jti[TOKEN_ID_MAX + 1]; /* token id */
	char username[TOKEN_USERNAME_MAX + 1];
	unsigned roles; /* roles.h bits: the claim "roles" (array of names) */
	char sst[TOKEN_SST_LEN + 1]; /* "" when absent */
	/* RFC 9068's claims of a token issued to an OAuth client ("" for the
	 * JSON login's, which carry neither) */
	char client_id[TOKEN_CLIENT_ID_MAX + 1];
	char scope[TOKEN_SCOPE_MAX + 1];
	long long iat, nbf, exp;
	char kid[TOKEN_KID_LEN + 1]; /* filled by token_verify */
};

enum token_status {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,   /* not three base64url parts of JSON, too long */
	TOKEN_BAD_ALG,	   /* alg other than the named key's, or none */
	TOKEN_UNKNOWN_KID, /* no kid, or one we do not have */
	TOKEN_BAD_SIGNATURE,
	TOKEN_EXPIRED,
	TOKEN_NOT_YET_VALID,
	TOKEN_BAD_ISSUER,
	TOKEN_BAD_AUDIENCE,
	TOKEN_BAD_CLAIMS /* sub, sid, exp missing, of the wrong type, times out of range */
};

/* Load the ':'-separated PEM files of paths: private keys, or (after the
 * first) public keys of retired signers.  EC keys must be on P-256 (ES256),
 * RSA keys at least 2048 bits (RS256).  The first must be a private key of
 * algorithm sign_alg ("ES256" or "RS256"; NULL: either).  iss, aud and leeway are copied
 * for signing and verification; leeway must lie in [0, TOKEN_LEEWAY_MAX].
 * 0, or -1 with err filled (t is then released).  Release with
 * token_ctx_release(). */
int token_ctx_init(struct token_ctx *t, const char *paths, const char *sign_alg, const char *iss,
		   const char *aud, long leeway, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A context that only verifies (the registration service): the public
 * keys of source, either ':'-separated PEM files (SubjectPublicKeyInfo:
 * P-256 for ES256, RSA >= 2048 bits for RS256) or one JWKS file (a
 * {"keys":[...]} document such as /.well-known/jwks.json, told apart by
 * its first non-blank byte '{'), whose kids are the RFC 7638 thumbprints
 * recomputed here (a JWKS "kid" that differs is refused).  A JWKS key
 * must be kty EC (crv P-256) or RSA, without private members, with "alg"
 * (if any) ES256/RS256 to match and "use" (if any) "sig"; a private PEM
 * key is refused.  iss, aud and leeway as token_ctx_init.  token_sign
 * fails on such a context.  0, or -1 with err filled (t is then
 * released). */
int token_ctx_init_verify(struct token_ctx *t, const char *source, const char *iss,
			  const char *aud, long leeway, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Free the keys and strings of t; t may then be initialized again. */
void token_ctx_release(struct token_ctx *t);

/* The JWKS document, owned by t. */
const char *token_jwks(const struct token_ctx *t);

/* The algorithm ("ES256"/"RS256") and kid of key i (i < t->nkeys); owned
 * by t. */
const char *token_key_alg(const struct token_ctx *t, size_t i);
const char *token_key_kid(const struct token_ctx *t, size_t i);

/* Sign c (sub, sid, jti, username, roles, iat, nbf, exp; iss and aud come
 * from t)
 * with keys[0] into out (outlen bytes, NUL-terminated).  Returns the token
 * length, or -1 (out too small, a field too long, a libcrypto failure).
 * The signature is EVP_PKEY_sign's with libcrypto's own nonces (random,
 * mixed with the key and the message).  Not for use by two threads at
 * once. */
int token_sign(struct token_ctx *t, const struct token_claims *c, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* An OpenID Connect ID token (Core 2 and 3.1.3.6): iss, sub, aud and azp
 * (both the client), iat, exp, sid, and at_hash of the access token issued
 * with it (access_token, access_len; NULL for none). */
struct token_id_claims {
	const char *sub, *sid, *client_id;
	long long iat, exp;
	const char *access_token;
	size_t access_len;
};

/* Sign an ID token with the signing key (as token_sign); its length, or
 * -1. */
int token_sign_id(struct token_ctx *t, const struct token_id_claims *c, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* Verify jwt (len bytes) at time now: signature, iss and aud (whole
 * strings: an embedded NUL is a difference), iat, nbf and exp in range
 * (TOKEN_TIME_MAX), then (unless check_time is 0, to let an expired access
 * token still end its session at logout) exp, nbf and iat against now.
 * On TOKEN_OK out holds the claims (absent iat/nbf read as 0, absent roles
 * as none; roles that are not an array of known names make the token
 * TOKEN_BAD_CLAIMS).  The last
 * TOKEN_SEEN_SLOTS tokens that passed are remembered by their SHA-256, and
 * only their time is checked again. */
enum token_status token_verify(const struct token_ctx *t, const char *jwt, size_t len, time_t now,
			       int check_time, struct token_claims *out)
    __attribute__((warn_unused_result));

/* The "sst" claim of a user whose security stamp is stamp: the hex of
 * BLAKE2b-128 over a fixed label and the stamp.  magenta-auth writes it into
 * every access token (the stamp of the token's session); the registration
 * service compares it with its own row's, so a token issued before a
 * password change (a new stamp) is refused there at once.  It tells a
 * reader nothing of the stamp itself. */
void token_stamp_digest(const char *stamp, char out[TOKEN_SST_LEN + 1]);

/* A short lower-case word for a status, for logs. */
const char *token_status_text(enum token_status st);

#endif
