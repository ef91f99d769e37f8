/* pwhash: argon2id with configurable cost. */
#include "config.h"

#include "pwhash.h"

static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

/* Check and keep the cost parameters. */
int pwhash_init(unsigned long long opslimit, size_t memlimit)
{
	if (sodium_init() < 0)
		return -1;
	if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > crypto_pwhash_OPSLIMIT_MAX ||
	    memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > crypto_pwhash_MEMLIMIT_MAX)
		return -1;
	pw_ops = opslimit;
	pw_mem = memlimit;
	return 0;
}

/* Hash with a fresh salt. */
int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
{
	return crypto_pwhash_str_alg(out, pw, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13);
}

/* Verify in the time the hash's own parameters take. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : -1;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
