/* Unit tests: argon2id hashing and verification. */
#include "config.h"

#include <string.h>

#include "pwhash.h"
#include "t.h"

int main(void)
{
	char h1[PWHASH_STRBYTES], h2[PWHASH_STRBYTES];
	const char *pw = "correct horse battery staple";

	/* cheap parameters keep the test fast; the format is what matters */
	CHECK(pwhash_init(1, 8 * 1024) == 0);
	CHECK(pwhash_init(0, 8 * 1024) == -1);
	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(h1, pw, strlen(pw)) == 0);
	CHECK(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	CHECK(strstr(h1, pw) == NULL);
	CHECK(pwhash_verify(h1, pw, strlen(pw)) == 0);
	CHECK(pwhash_verify(h1, "correct horse battery stapl", strlen(pw) - 1) == -1);
	CHECK(pwhash_verify("$argon2id$garbage", pw, strlen(pw)) == -1);
	/* a fresh salt every time */
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	CHECK(strcmp(h1, h2) != 0);
	CHECK(!pwhash_needs_rehash(h1));
	CHECK(pwhash_init(3, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_needs_rehash(h1));
	/* passwords with NUL bytes and non-ASCII are hashed as bytes */
	CHECK(pwhash_hash(h2, "p\0w\xc3\xa9", 5) == 0);
	CHECK(pwhash_verify(h2, "p\0w\xc3\xa9", 5) == 0);
	CHECK(pwhash_verify(h2, "p", 1) == -1);
	return t_done();
}
