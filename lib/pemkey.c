/* pemkey: raw Ed25519 / X25519 keys from and to PEM files. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "pemkey.h"

/* OpenSSL's name and id of a key type. */
static const char *pemkey_name(enum pemkey_type type)
{
	return type == PEMKEY_ED25519 ? "ED25519" : "X25519";
}

static int pemkey_id(enum pemkey_type type)
{
	return type == PEMKEY_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519;
}

/* Read a key file. */
int pemkey_read(const char *path, enum pemkey_type type, int private_key,
		unsigned char out[PEMKEY_BYTES], char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	size_t len = PEMKEY_BYTES;
	int rc = -1, got;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
			: PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!k) {
		snprintf(err, errlen, "'%s' holds no PEM %s key", path,
			 private_key ? "private" : "public");
		return -1;
	}
	if (EVP_PKEY_get_id(k) != pemkey_id(type)) {
		snprintf(err, errlen, "'%s' is not an %s key", path, pemkey_name(type));
		goto out;
	}
	got = private_key ? EVP_PKEY_get_raw_private_key(k, out, &len)
			  : EVP_PKEY_get_raw_public_key(k, out, &len);
	if (got != 1 || len != PEMKEY_BYTES) {
		snprintf(err, errlen, "'%s': cannot read the raw key", path);
		sodium_memzero(out, PEMKEY_BYTES);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k); /* OpenSSL clears private key material it frees */
	ERR_clear_error();
	return rc;
}

/* Generate and write a pair. */
int pemkey_generate(enum pemkey_type type, FILE *priv, FILE *pub, char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, pemkey_name(type));
	int rc = -1;

	if (!k) {
		snprintf(err, errlen, "cannot generate an %s key", pemkey_name(type));
		goto out;
	}
	if (PEM_write_PrivateKey(priv, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_PUBKEY(pub, k) != 1) {
		snprintf(err, errlen, "cannot write the %s key", pemkey_name(type));
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

/* Key id of a public key. */
void pemkey_kid(const unsigned char pub[PEMKEY_BYTES], char kid[PEMKEY_KID_LEN + 1])
{
	unsigned char h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), pub, PEMKEY_BYTES, NULL, 0);
	sodium_bin2hex(kid, PEMKEY_KID_LEN + 1, h, PEMKEY_KID_LEN / 2);
}
