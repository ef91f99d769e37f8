/* Unit tests: the growing string (lib/strbuf.c). */
#include "config.h"

#include <string.h>

#include "strbuf.h"
#include "t.h"

/* Appends across several growths keep every byte, in order, NUL-terminated. */
static void test_grow(void)
{
	struct strbuf b = { 0 };
	char want[5000];
	size_t n = 0;

	for (int i = 0; i < 1000; i++) {
		char piece[8];
		int k = i % 7 + 1;

		for (int j = 0; j < k; j++)
			piece[j] = (char)('a' + (i + j) % 26);
		strbuf_add(&b, piece, (size_t)k);
		memcpy(want + n, piece, (size_t)k);
		n += (size_t)k;
	}
	CHECK(!b.oom);
	CHECK(b.len == n);
	CHECK(b.cap > b.len);
	CHECK(memcmp(b.s, want, n) == 0);
	CHECK(b.s[n] == '\0');
	strbuf_release(&b);
	CHECK(b.s == NULL && b.len == 0 && b.cap == 0);
}

/* An empty append still makes an empty string; addstr adds the string. */
static void test_str(void)
{
	struct strbuf b = { 0 };

	strbuf_add(&b, "", 0);
	CHECK(b.s && b.s[0] == '\0' && b.len == 0);
	strbuf_addstr(&b, "{");
	strbuf_addstr(&b, "x,y");
	strbuf_addstr(&b, "}");
	CHECK(strcmp(b.s, "{x,y}") == 0);
	strbuf_release(&b);
	strbuf_release(&b); /* twice is harmless */
}

/* Out of memory latches: later appends do nothing. */
static void test_oom(void)
{
	struct strbuf b = { 0 };

	strbuf_addstr(&b, "abc");
	b.oom = 1;
	strbuf_addstr(&b, "def");
	CHECK(strcmp(b.s, "abc") == 0 && b.len == 3);
	strbuf_release(&b);
	CHECK(!b.oom);
}

int main(void)
{
	test_grow();
	test_str();
	test_oom();
	return t_done();
}
