/* Unit tests: RFC 6238 / RFC 4226 codes, RFC 4648 base32, the matching
 * window and single use. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "t.h"
#include "totp.h"

/* totp_hotp's value, or UINT32_MAX when it fails. */
static uint32_t hotp(const unsigned char *key, size_t len, uint64_t counter, int digits)
{
	uint32_t v;

	return totp_hotp(key, len, counter, digits, &v) == 0 ? v : UINT32_MAX;
}

/* RFC 6238 appendix B, SHA-1 rows (8 digits). */
static const struct {
	long long t;
	unsigned code;
} rfc6238[] = {
    {59, 94287082},	    {1111111109, 7081804},  {1111111111, 14050471},
    {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130},
};

/* RFC 4226 appendix D, counters 0 to 9 (6 digits). */
static const unsigned rfc4226[] = {755224, 287082, 359152, 969429, 338314,
				   254676, 287922, 162583, 399871, 520489};

int main(void)
{
	const unsigned char *key = (const unsigned char *)"12345678901234567890";
	char code[16], out[64];
	unsigned char bin[64];
	int64_t m = 0;

	if (sodium_init() < 0)
		return 99;
	for (size_t i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++)
		CHECK(hotp(key, 20, (uint64_t)totp_step(rfc6238[i].t), 8) == rfc6238[i].code);
	for (unsigned i = 0; i < 10; i++)
		CHECK(hotp(key, 20, i, 6) == rfc4226[i]);
	CHECK(totp_step(59) == 1 && totp_step(60) == 2 && totp_step(0) == 0 && totp_step(-1) == -1);

	/* the 6-digit code at T = 1111111111 is the last six of 14050471 */
	snprintf(code, sizeof(code), "%06u", hotp(key, 20, (uint64_t)totp_step(1111111111), 6));
	CHECK(strcmp(code, "050471") == 0);
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111), -1, &m) == 1);
	CHECK(m == totp_step(1111111111));
	/* one step either side is accepted, two are not */
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111) + 1, -1, &m) == 1);
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111) - 1, -1, &m) == 1);
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111) + 2, -1, &m) == 0);
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111) - 2, -1, &m) == 0);
	/* single use: a step at or before the last one used is refused */
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111), totp_step(1111111111), &m) == 0);
	CHECK(totp_match(key, 20, code, 6, totp_step(1111111111), totp_step(1111111111) - 1, &m) ==
	      1);
	/* not six digits, other digits */
	CHECK(totp_match(key, 20, "05047", 5, totp_step(1111111111), -1, &m) == 0);
	CHECK(totp_match(key, 20, "05047a", 6, totp_step(1111111111), -1, &m) == 0);
	CHECK(totp_match(key, 20, "050472", 6, totp_step(1111111111), -1, &m) == 0);
	CHECK(totp_match(key, 20, "0504711", 7, totp_step(1111111111), -1, &m) == 0);

	/* a code that cannot be computed is an error, never a match: not
	 * the "967295" an unchecked UINT32_MAX would print as */
	{
		uint32_t v = 1;

		CHECK(totp_hotp(key, 0, 1, 6, &v) == -1 && v == 0);
		CHECK(totp_hotp(NULL, 20, 1, 6, &v) == -1 && v == 0);
		CHECK(totp_hotp(key, 20, 1, 5, &v) == -1 && totp_hotp(key, 20, 1, 9, &v) == -1);
		CHECK(totp_match(key, 0, code, 6, totp_step(1111111111), -1, &m) == TOTP_ERROR);
		totp_test_fail_hmac = 1;
		CHECK(totp_hotp(key, 20, 1, 6, &v) == -1 && v == 0);
		m = 42;
		CHECK(totp_match(key, 20, code, 6, totp_step(1111111111), -1, &m) == TOTP_ERROR);
		CHECK(totp_match(key, 20, "967295", 6, totp_step(1111111111), -1, &m) ==
		      TOTP_ERROR);
		CHECK(m == 42);
		totp_test_fail_hmac = 0;
		CHECK(totp_match(key, 20, code, 6, totp_step(1111111111), -1, &m) == 1);
	}

	/* RFC 4648 section 10 */
	{
		static const char *const plain[] = {"",	    "f",     "fo",    "foo",
						    "foob", "fooba", "foobar"};
		static const char *const enc[] = {"",	     "MY",	 "MZXQ",      "MZXW6",
						  "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
		for (int i = 0; i < 7; i++) {
			size_t n =
			    totp_base32(out, (const unsigned char *)plain[i], strlen(plain[i]));
			CHECK(n == strlen(enc[i]) && strcmp(out, enc[i]) == 0);
			CHECK(totp_base32_decode(bin, sizeof(bin), enc[i], strlen(enc[i])) ==
			      (long)strlen(plain[i]));
			CHECK(memcmp(bin, plain[i], strlen(plain[i])) == 0);
		}
	}
	CHECK(totp_base32(out, key, 20) == TOTP_B32LEN);
	CHECK(strcmp(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == 0);
	CHECK(totp_base32_decode(bin, sizeof(bin), "mzxw6ytboi======", 16) == 6);
	CHECK(memcmp(bin, "foobar", 6) == 0);
	CHECK(totp_base32_decode(bin, sizeof(bin), "MZXW1", 5) == -1); /* 1 is not base32 */
	CHECK(totp_base32_decode(bin, 2, "MZXW6", 5) == -1);	       /* does not fit */
	return t_done();
}
