/* strbuf: a growing NUL-terminated string that leaves no copy behind.
 *
 * Growing moves the text to a new allocation and wipes the old one, and
 * strbuf_release wipes before freeing, so a buffer may hold a secret (a
 * mail carrying a token).  Out of memory latches: later appends do nothing
 * and oom stays 1; the caller checks it once at the end. */
#ifndef MAGENTA_STRBUF_H
#define MAGENTA_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *s; /* NULL until the first append; the caller may take it (free()) */
	size_t len, cap;
	int oom;
};

/* Append n bytes of s. */
void strbuf_add(struct strbuf *b, const char *s, size_t n);

/* Append the string s. */
void strbuf_addstr(struct strbuf *b, const char *s);

/* Wipe and free the text; b is empty again. */
void strbuf_release(struct strbuf *b);

#endif
