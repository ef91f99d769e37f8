/* token_key: the keys of access tokens (token.h), parsed once per process
 * through libcrypto's EVP API: PEM files (private or public), a JWKS file's
 * public JWKs (OpenSSL 3's EVP_PKEY_fromdata), each key's public JWK, RFC
 * 7638 thumbprint (its kid) and JOSE header, the JWKS text of a context's
 * keys, and new keys for magentactl keygen.
 *
 * EC keys must be on P-256 (ES256), RSA keys have 2048 to 4096 bits
 * (RS256); an encrypted PEM key is refused, never prompted for. */
#ifndef MAGENTA_TOKEN_KEY_H
#define MAGENTA_TOKEN_KEY_H

#include <stddef.h>
#include <stdio.h>

#include <openssl/types.h>

#include "token.h"

struct json_object;

#define TOKEN_ES256_SIGLEN 64 /* r || s */

/* One parsed key: private (can sign) or public only. */
struct token_key {
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *sign; /* NULL for a public key */
	EVP_PKEY_CTX *verify;
	int ec;	       /* 1: ES256, 0: RS256 */
	size_t siglen; /* raw JWS signature length */
	char alg[8];
	char kid[TOKEN_KID_LEN + 1];
	char *header; /* base64url of the JOSE header {"alg","typ":"JWT","kid"} */
	size_t header_len;
	struct json_object *jwk; /* the public JWK */
	/* a key ring's retired key (keyring.h): not accepted from then on
	 * (epoch seconds; 0: no end) */
	long long not_after;
};

/* What a PEM file may hold: a private key, a private or a public one, or
 * only a public one (a verifier has no business holding a signing key). */
enum token_key_mode { TOKEN_KEY_PRIVATE, TOKEN_KEY_ANY, TOKEN_KEY_PUBLIC };

/* Append the keys of the ':'-separated PEM files of paths to t->keys, the
 * first read in mode first, the others in mode rest; conf names the list in
 * messages.  A kid listed twice, or no file at all, is refused.  0, or -1
 * with err (the keys loaded so far stay in t for token_ctx_release). */
int token_key_load_pems(struct token_ctx *t, const char *paths, enum token_key_mode first,
			enum token_key_mode rest, const char *conf, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Append the public keys of source to t->keys: one JWKS file (told apart by
 * its first non-blank byte '{'; at most 1 MiB; each key as
 * token_ctx_init_verify says, its "kid", if any, its recomputed thumbprint)
 * or ':'-separated public PEM files.  0, or -1 with err, as above. */
int token_key_load_public(struct token_ctx *t, const char *source, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The JWKS document {"keys":[...]} of t's keys: a fresh string the caller
 * frees, or NULL when out of memory. */
char *token_key_jwks(const struct token_ctx *t);

/* Free what k holds and zero it. */
void token_key_free(struct token_key *k);

/* Fill err with msg and the first queued libcrypto error ("msg: error"),
 * and clear libcrypto's error queue. */
void token_key_crypto_err(char *err, size_t errlen, const char *msg);

/* Write a new private key for alg ("ES256": P-256, "RS256": RSA 3072) as
 * PKCS#8 PEM to f.  0, or -1 with err filled. */
int token_keygen_pem(const char *alg, FILE *f, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
