/* pwhash: argon2id password hashing through libsodium's crypto_pwhash_str. */
#ifndef MAGENTA_PWHASH_H
#define MAGENTA_PWHASH_H

#include <stddef.h>

#include <sodium.h>

#define PWHASH_STRBYTES crypto_pwhash_STRBYTES

/* Choose the cost: opslimit iterations, memlimit bytes.  0, or -1 when
 * libsodium would refuse them. */
int pwhash_init(unsigned long long opslimit, size_t memlimit) __attribute__((warn_unused_result));

/* Hash pw (len bytes, any content) into out as "$argon2id$...".
 * 0, or -1 when out of memory. */
int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* 0 when pw matches hash, -1 otherwise (also for a malformed hash). */
int pwhash_verify(const char *hash, const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* 1 when hash was made with other parameters than the current ones. */
int pwhash_needs_rehash(const char *hash);

#endif
