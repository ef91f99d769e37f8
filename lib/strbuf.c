/* strbuf: a growing string, wiped when it moves and when it is released. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* Append n bytes of s. */
void strbuf_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		char *p = malloc(cap);

		if (!p) {
			b->oom = 1;
			return;
		}
		if (b->s) {
			memcpy(p, b->s, b->len);
			sodium_memzero(b->s, b->cap);
			free(b->s);
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Append the string s. */
void strbuf_addstr(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

/* Wipe and free the text; b is empty again. */
void strbuf_release(struct strbuf *b)
{
	if (b->s) {
		sodium_memzero(b->s, b->cap);
		free(b->s);
	}
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}
