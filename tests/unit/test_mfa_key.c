/* Unit tests: the second-factor key file, sealing bound to the user id,
 * key replacement, and the keyed recovery code hash. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "mfa_key.h"
#include "t.h"

static char dir[] = "/tmp/test_mfa_key.XXXXXX";

/* Write text to dir/name with mode; its path in a static buffer. */
static const char *put(const char *name, const char *text, mode_t mode)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		exit(99);
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

int main(void)
{
	static const char uid[] = "0193f1c2-0000-7000-8000-000000000001";
	static const char other[] = "0193f1c2-0000-7000-8000-000000000002";
	const unsigned char secret[20] = "12345678901234567890";
	unsigned char box[MFA_SEALBYTES(20)], got[20], h1[32], h2[32];
	struct mfa_key k, k2;
	char err[256], paths[600];
	const char *a, *b;

	if (sodium_init() < 0 || !mkdtemp(dir))
		return 99;
	a = put("a.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		0600);
	b = put("b.key", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", 0640);

	/* no file: off, not an error; "" likewise */
	CHECK(mfa_key_load(&k, "/nonexistent/mfa.key", err, sizeof(err)) == 0 && k.n == 0);
	CHECK(mfa_key_load(&k, "", err, sizeof(err)) == 0 && k.n == 0);
	CHECK(mfa_key_seal(&k, box, secret, 20, uid) == -1);
	/* bad files */
	CHECK(mfa_key_load(&k, put("short.key", "0011", 0600), err, sizeof(err)) == -1);
	CHECK(strstr(err, "64 hex digits") != NULL);
	CHECK(mfa_key_load(&k,
			   put("world.key",
			       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
			       0644),
			   err, sizeof(err)) == -1);
	CHECK(strstr(err, "readable by everyone") != NULL);
	snprintf(paths, sizeof(paths), "%s:/nonexistent/old.key", a);
	CHECK(mfa_key_load(&k, paths, err, sizeof(err)) == -1); /* a listed old key must exist */

	CHECK(mfa_key_load(&k, a, err, sizeof(err)) == 0 && k.n == 1);
	CHECK(mfa_key_seal(&k, box, secret, 20, uid) == 0);
	CHECK(memcmp(box + 1 + 24, secret, 20) != 0);
	CHECK(mfa_key_open(&k, got, box, sizeof(box), uid) == 0 && memcmp(got, secret, 20) == 0);
	/* another user's row, an altered box, a truncated box */
	CHECK(mfa_key_open(&k, got, box, sizeof(box), other) == -1);
	box[sizeof(box) - 1] ^= 1;
	CHECK(mfa_key_open(&k, got, box, sizeof(box), uid) == -1);
	box[sizeof(box) - 1] ^= 1;
	CHECK(mfa_key_open(&k, got, box, 10, uid) == -1);

	/* a new key first: old boxes still open, new ones use the new key */
	snprintf(paths, sizeof(paths), "%s:%s", b, a);
	CHECK(mfa_key_load(&k2, paths, err, sizeof(err)) == 0 && k2.n == 2);
	CHECK(mfa_key_open(&k2, got, box, sizeof(box), uid) == 0 && memcmp(got, secret, 20) == 0);
	CHECK(mfa_key_seal(&k2, box, secret, 20, uid) == 0);
	CHECK(mfa_key_open(&k, got, box, sizeof(box), uid) == -1);

	/* recovery code hashes: keyed, bound to the user */
	mfa_key_code_hash(&k, 0, h1, uid, "abcd-efgh", 9);
	mfa_key_code_hash(&k2, 1, h2, uid, "abcd-efgh", 9); /* the same key a */
	CHECK(memcmp(h1, h2, 32) == 0);
	mfa_key_code_hash(&k2, 0, h2, uid, "abcd-efgh", 9);
	CHECK(memcmp(h1, h2, 32) != 0);
	mfa_key_code_hash(&k, 0, h2, other, "abcd-efgh", 9);
	CHECK(memcmp(h1, h2, 32) != 0);

	mfa_key_release(&k);
	mfa_key_release(&k2);
	CHECK(k.n == 0);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 99;
	}
	return t_done();
}
