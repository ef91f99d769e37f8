/* uuid7: UUIDv7 generation and syntax checks. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "uuid7.h"

/* Lay out timestamp, version, variant and randomness as text. */
void uuid7_format(char out[UUID_STRLEN + 1], uint64_t unix_ms, const unsigned char rnd[10])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(unix_ms >> (8 * (5 - i)));
	memcpy(b + 6, rnd, 10);
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* New UUIDv7; the 12-bit rand_a field counts up within one millisecond so
 * that ids made by one process never go backwards (RFC 9562, method 1). */
void uuid7_new(char out[UUID_STRLEN + 1])
{
	static uint64_t last_ms;
	static unsigned counter;
	unsigned char rnd[10];
	struct timespec ts;
	uint64_t ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	randombytes_buf(rnd, sizeof(rnd));
	if (ms <= last_ms) {
		ms = last_ms;
		if (++counter > 0xfff) {
			ms = ++last_ms;
			counter = 0;
		}
	} else {
		last_ms = ms;
		counter = rnd[0] & 0x3ff; /* leave room to count up */
	}
	rnd[0] = (unsigned char)(counter >> 8);
	rnd[1] = (unsigned char)counter;
	uuid7_format(out, ms, rnd);
}

/* Check the 8-4-4-4-12 hex shape. */
int uuid_valid(const char *s)
{
	for (int i = 0; i < UUID_STRLEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	return s[UUID_STRLEN] == '\0';
}
