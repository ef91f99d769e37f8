/* refresh: opaque refresh tokens.
 *
 * A refresh token is 32 random bytes, sent as 43 base64url characters.
 * The database keeps only its SHA-256 (a fast hash suits 256 random bits:
 * there is nothing to guess).  When a token is rotated, its successor is
 * kept sealed (crypto_secretbox) under a key derived from the predecessor's
 * raw bytes, so only a holder of the old token can recover the new one
 * within the grace period, and a database dump reveals neither. */
#ifndef MAGENTA_REFRESH_H
#define MAGENTA_REFRESH_H

#include <stddef.h>

#include <sodium.h>

#define REFRESH_RAWBYTES 32
#define REFRESH_STRLEN 43 /* base64url, no padding */
#define REFRESH_HASHBYTES crypto_hash_sha256_BYTES
#define REFRESH_SEALBYTES                                                                          \
	(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + REFRESH_RAWBYTES)

/* A new token: raw bytes into raw, text into out.  Wipe raw after use. */
void refresh_new(char out[REFRESH_STRLEN + 1], unsigned char raw[REFRESH_RAWBYTES]);

/* Decode a presented token of len bytes into raw: 0, or -1 when it is not
 * 43 base64url characters. */
int refresh_parse(const char *s, size_t len, unsigned char raw[REFRESH_RAWBYTES])
    __attribute__((warn_unused_result));

/* Text form of raw into out. */
void refresh_format(char out[REFRESH_STRLEN + 1], const unsigned char raw[REFRESH_RAWBYTES]);

/* The database lookup key: SHA-256 of the raw bytes. */
void refresh_hash(unsigned char out[REFRESH_HASHBYTES], const unsigned char raw[REFRESH_RAWBYTES]);

/* Seal next under a key derived from prev (fresh random nonce). */
void refresh_seal(unsigned char box[REFRESH_SEALBYTES], const unsigned char prev[REFRESH_RAWBYTES],
		  const unsigned char next[REFRESH_RAWBYTES]);

/* Open a box made by refresh_seal with prev: 0 with next filled, or -1
 * when box was not sealed for prev (or was altered). */
int refresh_open(unsigned char next[REFRESH_RAWBYTES], const unsigned char box[REFRESH_SEALBYTES],
		 const unsigned char prev[REFRESH_RAWBYTES]) __attribute__((warn_unused_result));

#endif
