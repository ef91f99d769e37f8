/* Unit tests: UUIDv7 layout and ordering. */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "t.h"
#include "uuid7.h"

int main(void)
{
	char a[UUID_STRLEN + 1], b[UUID_STRLEN + 1];
	const unsigned char zero[10] = { 0 }, ones[10] = { 0xff, 0xff, 0xff, 0xff, 0xff,
							   0xff, 0xff, 0xff, 0xff, 0xff };

	if (sodium_init() < 0)
		return 99;
	/* a known time: 2022-02-22T19:22:22Z = 1645557742000 ms (RFC 9562 A.6) */
	uuid7_format(a, 0x017F22E279B0ull, zero);
	CHECK(strcmp(a, "017f22e2-79b0-7000-8000-000000000000") == 0);
	uuid7_format(a, 0x017F22E279B0ull, ones);
	CHECK(strcmp(a, "017f22e2-79b0-7fff-bfff-ffffffffffff") == 0);

	uuid7_new(a);
	CHECK(strlen(a) == UUID_STRLEN);
	CHECK(uuid_valid(a));
	CHECK(a[14] == '7');                               /* version */
	CHECK(strchr("89ab", a[19]) != NULL);              /* variant */
	/* strictly increasing within a process, even within one millisecond */
	for (int i = 0; i < 10000; i++) {
		uuid7_new(b);
		CHECK(strcmp(a, b) < 0);
		memcpy(a, b, sizeof(a));
	}
	CHECK(uuid_valid("0193F1C2-0000-7000-8000-000000000000"));
	CHECK(!uuid_valid("0193f1c2-0000-7000-8000-00000000000"));
	CHECK(!uuid_valid("0193f1c2-0000-7000-8000-0000000000000"));
	CHECK(!uuid_valid("0193f1c2x0000-7000-8000-000000000000"));
	CHECK(!uuid_valid("0193f1c2-0000-7000-8000-00000000000g"));
	return t_done();
}
