/* tests/unit/free_watch.h: a free() of the test program's own, which
 * every library's calls bind to (not under ASan, whose free must stay,
 * and not under valgrind, which replaces it): while `watching`, each
 * block freed is searched for `secret` (counted in `leaked`) and for
 * `header_secret` (counted in `header_leaked`).  FREE_WATCH is defined
 * when the hook is compiled in, and free_watch_works() says whether it
 * sees the libraries' frees; without it nothing is ever counted.  Include
 * once, in the test's one source file, after <string.h>. */
#ifndef FREE_WATCH_H
#define FREE_WATCH_H

#include <malloc.h>

#include <json-c/json.h>

#if defined(__SANITIZE_ADDRESS__)
#define FREE_WATCH_NONE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_WATCH_NONE 1
#endif
#endif

static const char secret[] = "Sup3r-Secret-Marker!";
static const char header_secret[] = "Head3r-Secret-Marker!";
/* volatile: free() is a builtin to the compiler, which may assume it
 * touches none of them */
static volatile int watching, leaked, header_leaked;

#ifndef FREE_WATCH_NONE
#define FREE_WATCH 1

extern void __libc_free(void *p);

void free(void *p)
{
	if (p && watching) {
		size_t n = malloc_usable_size(p);

		if (memmem(p, n, secret, sizeof(secret) - 1))
			leaked++;
		if (memmem(p, n, header_secret, sizeof(header_secret) - 1))
			header_leaked++;
	}
	__libc_free(p);
}

/* 1 when a shared library's frees reach the hook (json-c's here; not
 * under valgrind, which replaces them all). */
static inline int free_watch_works(void)
{
	leaked = 0;
	watching = 1;
	json_object_put(json_object_new_string(secret));
	watching = 0;
	return leaked > 0;
}
#else
static inline int free_watch_works(void)
{
	return 0;
}
#endif

#endif
