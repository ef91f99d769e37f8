/* mfa_key: loading the second-factor key, sealing secrets, hashing codes. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mfa_key.h"

#define KDF_CONTEXT "magenmfa" /* crypto_kdf_CONTEXTBYTES (8) */
enum { SUBKEY_SEAL = 1, SUBKEY_CODE = 2 };

/* Read one key file into raw; 0, 1 when it does not exist, -1 with err. */
static int key_read(const char *path, unsigned char raw[32], char *err, size_t errlen)
{
	char text[130];
	size_t n, bin = 0;
	struct stat st;
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (!f) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "mfa_key_file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH)) {
		snprintf(err, errlen, "mfa_key_file '%s': readable by everyone (chmod o-r)", path);
		goto out;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (n != 64 || sodium_hex2bin(raw, 32, text, n, NULL, &bin, NULL) != 0 || bin != 32) {
		snprintf(err, errlen, "mfa_key_file '%s': not 64 hex digits (openssl rand -hex 32)",
			 path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(text, sizeof(text));
	fclose(f);
	return rc;
}

int mfa_key_load(struct mfa_key *k, const char *paths, char *err, size_t errlen)
{
	unsigned char raw[32];
	char path[1024];
	const char *p = paths;
	int rc;

	sodium_memzero(k, sizeof(*k));
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (len == 0 || len >= sizeof(path)) {
			snprintf(err, errlen, "mfa_key_file: an empty or too long path");
			goto fail;
		}
		if (k->n == MFA_KEY_MAX) {
			snprintf(err, errlen, "mfa_key_file: more than %d keys", MFA_KEY_MAX);
			goto fail;
		}
		memcpy(path, p, len);
		path[len] = '\0';
		rc = key_read(path, raw, err, errlen);
		if (rc == 1 && k->n == 0 && !colon)
			return 0; /* no key: second factors are off */
		if (rc == 1)
			snprintf(err, errlen, "mfa_key_file '%s': no such file", path);
		if (rc != 0)
			goto fail;
		crypto_kdf_derive_from_key(k->seal[k->n], sizeof(k->seal[k->n]), SUBKEY_SEAL,
					   KDF_CONTEXT, raw);
		crypto_kdf_derive_from_key(k->code[k->n], sizeof(k->code[k->n]), SUBKEY_CODE,
					   KDF_CONTEXT, raw);
		sodium_memzero(raw, sizeof(raw));
		k->n++;
		p = colon ? colon + 1 : p + len;
	}
	return 0;
fail:
	sodium_memzero(raw, sizeof(raw));
	mfa_key_release(k);
	return -1;
}

void mfa_key_release(struct mfa_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

int mfa_key_seal(const struct mfa_key *k, unsigned char *box, const unsigned char *secret,
		 size_t len, const char *uid)
{
	unsigned char *nonce = box + 1;

	if (k->n == 0)
		return -1;
	box[0] = MFA_SEAL_VERSION;
	randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, secret, len,
	    (const unsigned char *)uid, strlen(uid), NULL, nonce, k->seal[0]);
	return 0;
}

int mfa_key_open(const struct mfa_key *k, unsigned char *secret, const unsigned char *box,
		 size_t boxlen, const char *uid)
{
	const unsigned char *nonce = box + 1;

	if (boxlen < MFA_SEALBYTES(0) || box[0] != MFA_SEAL_VERSION)
		return -1;
	for (int i = 0; i < k->n; i++)
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
			secret, NULL, NULL, nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
			boxlen - 1 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
			(const unsigned char *)uid, strlen(uid), nonce, k->seal[i]) == 0)
			return 0;
	return -1;
}

void mfa_key_code_hash(const struct mfa_key *k, int i, unsigned char out[MFA_CODE_HASHBYTES],
		       const char *uid, const char *code, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, k->code[i], sizeof(k->code[i]), MFA_CODE_HASHBYTES);
	crypto_generichash_update(&st, (const unsigned char *)uid, strlen(uid) + 1);
	crypto_generichash_update(&st, (const unsigned char *)code, len);
	crypto_generichash_final(&st, out, MFA_CODE_HASHBYTES);
	sodium_memzero(&st, sizeof(st));
}
