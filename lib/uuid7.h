/* uuid7: time-ordered UUIDs (RFC 9562 version 7) from libsodium randomness. */
#ifndef MAGENTA_UUID7_H
#define MAGENTA_UUID7_H

#include <stdint.h>

#define UUID_STRLEN 36

/* Write a new UUIDv7 as 36 lower-case characters plus NUL into out.
 * Within one process the values are strictly increasing. */
void uuid7_new(char out[UUID_STRLEN + 1]);

/* Build the UUIDv7 for a given Unix time in ms and 10 random bytes;
 * exposed for the unit tests. */
void uuid7_format(char out[UUID_STRLEN + 1], uint64_t unix_ms, const unsigned char rnd[10]);

/* 1 if s is a canonical (8-4-4-4-12 hex) UUID of any version, else 0. */
int uuid_valid(const char *s);

#endif
