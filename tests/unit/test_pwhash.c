/* Unit tests: argon2id hashing and verification. */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
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

/* 1 when the kernel has System V semaphore set id. */
static int sem_exists(int id)
{
	return semctl(id, 0, GETVAL) >= 0;
}

/* The slots' creator removes them when it exits; a process forked from
 * it (a worker) leaves them to it, even when it calls exit(). */
static void slots_exit(void)
{
	int p[2], id = -1, st;
	pid_t pid;

	CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		pid_t w;

		id = pwhash_slots_create(2);
		if (id < 0 || write(p[1], &id, sizeof(id)) != sizeof(id))
			_exit(1);
		w = fork();
		if (w == 0)
			exit(0); /* a worker's exit runs the atexit handlers too */
		if (w < 0 || waitpid(w, &st, 0) != w || !sem_exists(id))
			_exit(1);
		exit(0);
	}
	CHECK(pid > 0 && read(p[0], &id, sizeof(id)) == sizeof(id) && id >= 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!sem_exists(id));
	if (id >= 0 && sem_exists(id))
		(void)semctl(id, 0, IPC_RMID);
	close(p[0]);
	close(p[1]);
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
	slots();
	slots_exit();
	return t_done();
}
