/* Unit tests: argon2id hashing and verification. */
#include "config.h"

#include <argon2.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pwhash.h"
#include "t.h"

/* A process hashing until killed, with a cost that keeps it busy. */
static pid_t hasher(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		char h[PWHASH_STRBYTES];

		if (pwhash_init(3, 64u * 1024 * 1024) != 0)
			_exit(1);
		for (;;)
			if (pwhash_hash(h, "pw", 2) != 0)
				_exit(1);
	}
	return pid;
}

/* Poll (20 s at most) until the slots are in the state wanted. */
static int slots_become(int free_want, int waiting_want)
{
	struct timespec ms = { 0, 1000000 };
	int f, w;

	for (int i = 0; i < 20000; i++) {
		if (pwhash_slots_state(&f, &w) == 0 && f == free_want && w == waiting_want)
			return 1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* One slot: a second process waits for it; a process killed while
 * holding it gives it back. */
static void slots(void)
{
	char h[PWHASH_STRBYTES];
	pid_t a, b;
	int f, w;

	CHECK(pwhash_slots_state(&f, &w) == -1);
	CHECK(pwhash_slots_create(0) == -1);
	CHECK(pwhash_slots_create(1) >= 0);
	CHECK(pwhash_slots_state(&f, &w) == 0 && f == 1 && w == 0);
	CHECK((a = hasher()) > 0);
	CHECK(slots_become(0, 0)); /* a hashes */
	CHECK((b = hasher()) > 0);
	CHECK(slots_become(0, 1)); /* b waits: the limit holds */
	kill(a, SIGKILL);
	CHECK(waitpid(a, NULL, 0) == a);
	CHECK(slots_become(0, 0)); /* b has the slot a held when it died */
	kill(b, SIGKILL);
	CHECK(waitpid(b, NULL, 0) == b);
	CHECK(slots_become(1, 0));
	pwhash_slots_remove();
	CHECK(pwhash_slots_state(&f, &w) == -1);
	CHECK(pwhash_init(1, 8 * 1024) == 0);
	CHECK(pwhash_hash(h, "pw", 2) == 0); /* no slots: no limit */
	CHECK(pwhash_cpus() >= 1);
}

/* Page faults while verifying h once. */
static long verify_faults(const char *h, const char *pw)
{
	struct rusage r0, r1;

	getrusage(RUSAGE_SELF, &r0);
	if (pwhash_verify(h, pw, strlen(pw)) != 0)
		return -1;
	getrusage(RUSAGE_SELF, &r1);
	return r1.ru_minflt - r0.ru_minflt;
}

/* Our hashes are libsodium's and the reference libargon2's, and theirs
 * ours: each verifies what the others made, and refuses a wrong password. */
static void interop(void)
{
	char ours[PWHASH_STRBYTES], theirs[PWHASH_STRBYTES], ref[128];
	const char *pw = "interop password";
	const uint8_t salt[16] = "0123456789abcdef";

	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(ours, pw, strlen(pw)) == 0);
	CHECK(crypto_pwhash_str_verify(ours, pw, strlen(pw)) == 0);
	CHECK(crypto_pwhash_str_verify(ours, "interop passworD", strlen(pw)) != 0);
	CHECK(argon2id_verify(ours, pw, strlen(pw)) == ARGON2_OK);
	CHECK(crypto_pwhash_str_needs_rehash(ours, 2, 19 * 1024 * 1024) == 0);
	/* libsodium's */
	CHECK(crypto_pwhash_str_alg(theirs, pw, strlen(pw), 2, 19 * 1024 * 1024,
				    crypto_pwhash_ALG_ARGON2ID13) == 0);
	CHECK(pwhash_verify(theirs, pw, strlen(pw)) == 0);
	CHECK(pwhash_verify(theirs, "interop passworD", strlen(pw)) == -1);
	CHECK(crypto_pwhash_argon2i_str(theirs, pw, strlen(pw), 3, 8 * 1024 * 1024) == 0);
	CHECK(pwhash_verify(theirs, pw, strlen(pw)) == 0); /* argon2i too */
	CHECK(pwhash_verify(theirs, "x", 1) == -1);
	/* the reference encoder's, with other lanes and lengths than ours */
	CHECK(argon2id_hash_encoded(1, 1024, 2, pw, strlen(pw), salt, sizeof(salt), 24, ref,
				    sizeof(ref)) == ARGON2_OK);
	CHECK(strncmp(ref, "$argon2id$v=19$m=1024,t=1,p=2$", 30) == 0);
	CHECK(pwhash_verify(ref, pw, strlen(pw)) == 0);
	CHECK(pwhash_verify(ref, "interop", 7) == -1);
	/* a hash tampered with, or cut short, is refused */
	ref[strlen(ref) - 1] = ref[strlen(ref) - 1] == 'A' ? 'B' : 'A';
	CHECK(pwhash_verify(ref, pw, strlen(pw)) == -1);
	ref[strlen(ref) - 5] = '\0';
	CHECK(pwhash_verify(ref, pw, strlen(pw)) == -1);
	CHECK(pwhash_verify("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$@@@@", pw, strlen(pw)) == -1);
}

/* The kept region: lent to every computation (the second maps nothing
 * new), zero after each, zero in a forked child, which uses it at once;
 * replaced by a larger one for a larger cost; none with keep_memory off,
 * and hashes verify either way. */
static void kept(void)
{
	char h[PWHASH_STRBYTES], h2[PWHASH_STRBYTES];
	const char *pw = "kept memory";
	const unsigned char *p;
	size_t n;
	pid_t pid;
	int st;

	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	pwhash_keep_memory(1);
	CHECK(pwhash_hash(h, pw, strlen(pw)) == 0);
	CHECK((p = pwhash_kept_memory(&n)) != NULL && n >= 19u * 1024 * 1024);
	CHECK(sodium_is_zero(p, n));
	CHECK(verify_faults(h, pw) >= 0);
	CHECK(verify_faults(h, pw) < 100); /* 4 864 pages of 4 KiB without */
	CHECK(pwhash_kept_memory(&n) == p && sodium_is_zero(p, n));
	CHECK(pwhash_verify(h, "kept memorY", strlen(pw)) == -1);
	CHECK(sodium_is_zero(p, n));
	pid = fork();
	if (pid == 0)
		_exit(pwhash_kept_memory(&n) == p && sodium_is_zero(p, n) &&
			      verify_faults(h, pw) >= 0 && verify_faults(h, pw) < 100
			  ? 0
			  : 1);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pwhash_release_memory();
	CHECK(pwhash_kept_memory(&n) == NULL && n == 0);

	pwhash_keep_memory(0);
	CHECK(pwhash_verify(h, pw, strlen(pw)) == 0);
	CHECK(pwhash_kept_memory(&n) == NULL);
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	CHECK(pwhash_kept_memory(&n) == NULL);
	pwhash_keep_memory(1);
	CHECK(pwhash_verify(h2, pw, strlen(pw)) == 0); /* made without, checked with */
	CHECK(pwhash_verify(h2, "kept", 4) == -1);
	CHECK(pwhash_kept_memory(&n) != NULL);
	/* a larger cost replaces the region with a larger one */
	CHECK(pwhash_init(1, 32 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	CHECK((p = pwhash_kept_memory(&n)) != NULL && n >= 32u * 1024 * 1024);
	CHECK(sodium_is_zero(p, n));
	CHECK(pwhash_verify(h, pw, strlen(pw)) == 0); /* the smaller fits */
	CHECK(verify_faults(h2, pw) < 100);
	CHECK(pwhash_kept_memory(&n) == p && sodium_is_zero(p, n));
	pwhash_release_memory();
}

/* The dummy hash for unknown users has the parameters of the last
 * pwhash_init, whatever they are, and a password nobody knows. */
static void dummy(void)
{
	char d1[PWHASH_STRBYTES], d2[PWHASH_STRBYTES];

	CHECK(pwhash_init(2, 19456 * 1024) == 0);
	CHECK(pwhash_dummy(d1) == 0);
	CHECK(strncmp(d1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	CHECK(!pwhash_needs_rehash(d1));
	CHECK(pwhash_verify(d1, "", 0) == -1);
	CHECK(pwhash_dummy(d2) == 0);
	CHECK(strcmp(d1, d2) != 0); /* random, not a constant */
	/* other parameters: the old one no longer matches, a new one does */
	CHECK(pwhash_init(3, 12288 * 1024) == 0);
	CHECK(pwhash_needs_rehash(d1));
	CHECK(pwhash_dummy(d2) == 0);
	CHECK(strncmp(d2, "$argon2id$v=19$m=12288,t=3,p=1$", 31) == 0);
	CHECK(!pwhash_needs_rehash(d2));
}

int main(void)
{
	char h1[PWHASH_STRBYTES], h2[PWHASH_STRBYTES];
	const char *pw = "correct horse battery staple";

	/* cheap parameters keep the test fast; the format is what matters */
	CHECK(pwhash_init(1, 8 * 1024) == 0);
	CHECK(pwhash_init(0, 8 * 1024) == -1);
	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(h1, pw, strlen(pw)) == 0);
	CHECK(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	CHECK(strstr(h1, pw) == NULL);
	CHECK(pwhash_verify(h1, pw, strlen(pw)) == 0);
	CHECK(pwhash_verify(h1, "correct horse battery stapl", strlen(pw) - 1) == -1);
	CHECK(pwhash_verify("$argon2id$garbage", pw, strlen(pw)) == -1);
	/* a fresh salt every time */
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	CHECK(strcmp(h1, h2) != 0);
	CHECK(!pwhash_needs_rehash(h1));
	CHECK(pwhash_init(3, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_needs_rehash(h1));
	dummy();
	/* passwords with NUL bytes and non-ASCII are hashed as bytes */
	CHECK(pwhash_hash(h2, "p\0w\xc3\xa9", 5) == 0);
	CHECK(pwhash_verify(h2, "p\0w\xc3\xa9", 5) == 0);
	CHECK(pwhash_verify(h2, "p", 1) == -1);
	interop();
	slots();
	kept();
	return t_done();
}
