/* refresh: refresh token encoding, hashing and successor sealing. */
#include "config.h"

#include <string.h>

#include "jose.h"
#include "refresh.h"

/* crypto_kdf context: 8 bytes naming the one purpose of the derived key */
#define SEAL_CONTEXT "mgrtnext"

/* Random bytes and their text form. */
void refresh_new(char out[REFRESH_STRLEN + 1], unsigned char raw[REFRESH_RAWBYTES])
{
	randombytes_buf(raw, REFRESH_RAWBYTES);
	refresh_format(out, raw);
}

/* base64url without padding: 43 characters, which out always has room for. */
void refresh_format(char out[REFRESH_STRLEN + 1], const unsigned char raw[REFRESH_RAWBYTES])
{
	jose_b64url_encode(out, REFRESH_STRLEN + 1, raw, REFRESH_RAWBYTES);
}

/* Exactly 43 characters decoding to exactly 32 bytes. */
int refresh_parse(const char *s, size_t len, unsigned char raw[REFRESH_RAWBYTES])
{
	if (len != REFRESH_STRLEN ||
	    jose_b64url_decode(raw, REFRESH_RAWBYTES, s, len) != REFRESH_RAWBYTES)
		return -1;
	return 0;
}

/* SHA-256. */
void refresh_hash(unsigned char out[REFRESH_HASHBYTES], const unsigned char raw[REFRESH_RAWBYTES])
{
	crypto_hash_sha256(out, raw, REFRESH_RAWBYTES);
}

/* nonce || secretbox(next) under KDF(prev). */
void refresh_seal(unsigned char box[REFRESH_SEALBYTES], const unsigned char prev[REFRESH_RAWBYTES],
		  const unsigned char next[REFRESH_RAWBYTES])
{
	unsigned char key[crypto_secretbox_KEYBYTES];

	crypto_kdf_derive_from_key(key, sizeof(key), 1, SEAL_CONTEXT, prev);
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, next, REFRESH_RAWBYTES, box, key);
	sodium_memzero(key, sizeof(key));
}

/* Reverse of refresh_seal. */
int refresh_open(unsigned char next[REFRESH_RAWBYTES], const unsigned char box[REFRESH_SEALBYTES],
		 const unsigned char prev[REFRESH_RAWBYTES])
{
	unsigned char key[crypto_secretbox_KEYBYTES];
	int rc;

	crypto_kdf_derive_from_key(key, sizeof(key), 1, SEAL_CONTEXT, prev);
	rc = crypto_secretbox_open_easy(next, box + crypto_secretbox_NONCEBYTES,
					REFRESH_SEALBYTES - crypto_secretbox_NONCEBYTES, box, key);
	sodium_memzero(key, sizeof(key));
	return rc == 0 ? 0 : -1;
}
