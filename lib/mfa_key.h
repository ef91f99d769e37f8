/* mfa_key: the auth service's key for its second-factor data.
 *
 * mfa_key_file names one or more (':'-separated) files, each holding 32
 * random bytes as 64 hex digits (openssl rand -hex 32).  The first key
 * seals new TOTP secrets; every key is tried to open one, so a key can be
 * replaced without locking enrolled users out (docs/auth.md).  From each
 * key two subkeys are derived (crypto_kdf): one for XChaCha20-Poly1305
 * (crypto_aead_xchacha20poly1305_ietf) over the TOTP secrets, with the
 * user id as associated data (a sealed secret moved to another user's row
 * does not open), one that keys the BLAKE2b hashes of recovery codes (a
 * database dump alone cannot test guesses against them). */
#ifndef MAGENTA_MFA_KEY_H
#define MAGENTA_MFA_KEY_H

#include <stddef.h>

#include <sodium.h>

#define MFA_KEY_MAX 4
#define MFA_SEAL_VERSION 1
/* version byte, nonce, ciphertext, tag */
#define MFA_SEALBYTES(n)                                                                           \
	(1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (n) +                                  \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define MFA_CODE_HASHBYTES 32

struct mfa_key {
	int n; /* keys loaded; 0: second factors are off */
	unsigned char seal[MFA_KEY_MAX][crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char code[MFA_KEY_MAX][crypto_generichash_KEYBYTES];
};

/* Load the keys of paths (':'-separated; "" for none).  0 with k filled
 * (k->n == 0 when paths is "" or its first file does not exist: second
 * factors are then off), or -1 with err (unreadable, not 64 hex digits,
 * readable by others than its owner and group). */
int mfa_key_load(struct mfa_key *k, const char *paths, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Wipe the keys. */
void mfa_key_release(struct mfa_key *k);

/* Seal len bytes of secret for user uid under the first key into box
 * (MFA_SEALBYTES(len) bytes).  0, or -1 without a key. */
int mfa_key_seal(const struct mfa_key *k, unsigned char *box, const unsigned char *secret,
		 size_t len, const char *uid) __attribute__((warn_unused_result));

/* Open box (boxlen bytes) sealed for uid into secret (boxlen minus the
 * overhead bytes): 0, or -1 when no key opens it (another key, another
 * user, altered). */
int mfa_key_open(const struct mfa_key *k, unsigned char *secret, const unsigned char *box,
		 size_t boxlen, const char *uid) __attribute__((warn_unused_result));

/* The stored hash of recovery code (len bytes) of user uid under key i
 * (0: the sealing key). */
void mfa_key_code_hash(const struct mfa_key *k, int i, unsigned char out[MFA_CODE_HASHBYTES],
		       const char *uid, const char *code, size_t len);

#endif
