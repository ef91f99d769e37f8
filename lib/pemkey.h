/* pemkey: Ed25519 and X25519 keys in PEM files (PKCS#8 "PRIVATE KEY",
 * SubjectPublicKeyInfo "PUBLIC KEY"), as `magentactl keygen --events` and
 * `openssl genpkey -algorithm ed25519|x25519` write them, read into the
 * raw 32-byte form libsodium uses. */
#ifndef MAGENTA_PEMKEY_H
#define MAGENTA_PEMKEY_H

#include <stddef.h>
#include <stdio.h>

#define PEMKEY_BYTES 32

enum pemkey_type { PEMKEY_ED25519, PEMKEY_X25519 };

/* Read the key of type from path: the private key (the Ed25519 seed, or
 * the X25519 scalar) when private is set, else the public key.  0, or -1
 * with err naming the file and the problem (never key material). */
int pemkey_read(const char *path, enum pemkey_type type, int private_key,
		unsigned char out[PEMKEY_BYTES], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Make a new key pair of type; write the private key to priv and the
 * public key to pub as PEM.  0 / -1 with err. */
int pemkey_generate(enum pemkey_type type, FILE *priv, FILE *pub, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The key id of a raw public key: the first 8 bytes of its BLAKE2b-128
 * hash, in hex (16 characters and a NUL). */
#define PEMKEY_KID_LEN 16
void pemkey_kid(const unsigned char pub[PEMKEY_BYTES], char kid[PEMKEY_KID_LEN + 1]);

#endif
