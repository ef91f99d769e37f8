/* fuzz: what the libFuzzer harnesses of tests/fuzz/ share: the input as a
 * C string, and a check that makes a violated property a crash libFuzzer
 * records (with the input that caused it). */
#ifndef MAGENTA_FUZZ_H
#define MAGENTA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property of the code under test; its failure is a finding. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The n bytes at d, NUL-terminated, in a fresh buffer the caller frees
 * (NULL only when out of memory: the harness then skips the input). */
static inline char *fuzz_cstr(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		if (n)
			memcpy(s, d, n);
		s[n] = '\0';
	}
	return s;
}

#endif
