/* totp: RFC 6238 codes and RFC 4648 base32. */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <openssl/hmac.h>
#include <sodium.h>

#include "totp.h"

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#ifdef TOTP_TEST_HOOKS
int totp_test_fail_hmac;
#define HMAC_FORCED_FAILURE totp_test_fail_hmac
#else
#define HMAC_FORCED_FAILURE 0
#endif

/* Floor division, so times before 1970 fall in their own steps. */
int64_t totp_step(int64_t t)
{
	return t >= 0 ? t / TOTP_PERIOD : -((-t + TOTP_PERIOD - 1) / TOTP_PERIOD);
}

/* HMAC-SHA1 of the big-endian counter, dynamically truncated. */
int totp_hotp(const unsigned char *key, size_t len, uint64_t counter, int digits, uint32_t *out)
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	uint32_t bin, mod = 1;
	int off;

	*out = 0;
	if (!key || len == 0 || len > INT_MAX || digits < 6 || digits > 8)
		return -1;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (HMAC_FORCED_FAILURE ||
	    !HMAC(EVP_sha1(), key, (int)len, msg, sizeof(msg), mac, &maclen) || maclen < 20) {
		sodium_memzero(mac, sizeof(mac));
		return -1;
	}
	off = mac[maclen - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	      ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	sodium_memzero(mac, sizeof(mac));
	for (int i = 0; i < digits; i++)
		mod *= 10;
	*out = bin % mod;
	return 0;
}

int totp_match(const unsigned char *key, size_t len, const char *code, size_t clen,
	       int64_t now_step, int64_t last_step, int64_t *matched)
{
	char want[TOTP_DIGITS + 1], got[TOTP_DIGITS + 1];
	int found = 0, failed = 0;

	if (clen != TOTP_DIGITS)
		return 0;
	for (size_t i = 0; i < clen; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	memcpy(got, code, TOTP_DIGITS);
	got[TOTP_DIGITS] = '\0';
	/* oldest first: of two matching steps (never, in practice), the
	 * earlier is used, leaving the later one for the next code */
	for (int64_t s = now_step - TOTP_WINDOW; s <= now_step + TOTP_WINDOW; s++) {
		uint32_t v;
		int eq;

		if (totp_hotp(key, len, (uint64_t)s, TOTP_DIGITS, &v) != 0) {
			failed = 1; /* no candidate of this step: never a match */
			continue;
		}

		for (int i = TOTP_DIGITS - 1; i >= 0; i--) {
			want[i] = (char)('0' + v % 10);
			v /= 10;
		}
		eq = sodium_memcmp(want, got, TOTP_DIGITS) == 0;
		if (eq && s > last_step && !found) {
			found = 1;
			*matched = s;
		}
	}
	sodium_memzero(want, sizeof(want));
	sodium_memzero(got, sizeof(got));
	return failed ? TOTP_ERROR : found;
}

size_t totp_base32(char *out, const unsigned char *in, size_t len)
{
	size_t n = 0;
	unsigned buf = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[n++] = b32[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[n++] = b32[(buf << (5 - bits)) & 31];
	out[n] = '\0';
	buf = 0;
	return n;
}

long totp_base32_decode(unsigned char *out, size_t cap, const char *text, size_t len)
{
	size_t n = 0;
	unsigned buf = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		const char *p;

		if (c == '=' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		p = c ? strchr(b32, c) : NULL;
		if (!p)
			return -1;
		buf = (buf << 5) | (unsigned)(p - b32);
		bits += 5;
		if (bits >= 8) {
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	return (long)n;
}
