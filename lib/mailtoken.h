/* mailtoken: the one-time tokens sent by mail (email confirmation,
 * password reset).
 *
 * A token is 256 random bits, written base64url without padding (43
 * characters), safe in a URL.  The database keeps only its hash (BLAKE2b
 * 256, crypto_generichash, of the token text): the endpoint that receives
 * a token hashes it and looks the hash up, so no comparison of secrets
 * happens in C and a copy of the table holds nothing usable. */
#ifndef MAGENTA_MAILTOKEN_H
#define MAGENTA_MAILTOKEN_H

#include <stddef.h>

#define MAILTOKEN_RAWBYTES 32
#define MAILTOKEN_STRLEN 43 /* base64url, no padding */
#define MAILTOKEN_HASHBYTES 32
/* PostgreSQL bytea hex text: "\x" and two digits a byte */
#define MAILTOKEN_HASH_PGLEN (2 + 2 * MAILTOKEN_HASHBYTES)

/* A new token into out (NUL-terminated).  sodium_init must have run. */
void mailtoken_new(char out[MAILTOKEN_STRLEN + 1]);

/* The hash of token (len bytes) as bytea hex text, into out.  0, or -1
 * when token is not a well-formed token (then out is ""): the caller
 * answers as for an unknown token. */
int mailtoken_hash_pg(const char *token, size_t len, char out[MAILTOKEN_HASH_PGLEN + 1]);

#endif
