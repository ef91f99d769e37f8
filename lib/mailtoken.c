/* mailtoken: one-time mail tokens and their hashes. */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "mailtoken.h"

/* 256 random bits, base64url. */
void mailtoken_new(char out[MAILTOKEN_STRLEN + 1])
{
	unsigned char raw[MAILTOKEN_RAWBYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, MAILTOKEN_STRLEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* Check the form, then hash the text. */
int mailtoken_hash_pg(const char *token, size_t len, char out[MAILTOKEN_HASH_PGLEN + 1])
{
	unsigned char raw[MAILTOKEN_RAWBYTES], h[MAILTOKEN_HASHBYTES];
	size_t got = 0;
	const char *end = NULL;

	out[0] = '\0';
	if (len != MAILTOKEN_STRLEN ||
	    sodium_base642bin(raw, sizeof(raw), token, len, NULL, &got, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != sizeof(raw) || end != token + len)
		return -1;
	sodium_memzero(raw, sizeof(raw));
	crypto_generichash(h, sizeof(h), (const unsigned char *)token, len, NULL, 0);
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, MAILTOKEN_HASH_PGLEN - 1, h, sizeof(h));
	return 0;
}
