/* Unit tests: argon2id hashing and verification. */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/utsname.h>
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

/* 1 when the mapping that holds p lists each of flags (two-letter
 * VmFlags of /proc/self/smaps, space-separated). */
static int vm_flags(const void *p, const char *flags)
{
	char line[512], want[64];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0, ok = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3) /* a mapping's first line */
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			const char *w = flags;

			ok = 1;
			while (*w) {
				snprintf(want, sizeof(want), " %.2s", w);
				ok &= strstr(line, want) != NULL;
				w += w[2] ? 3 : 2;
			}
		}
	}
	fclose(f);
	return ok;
}

/* The kB a field of /proc/self/smaps (such as "LazyFree") gives for the
 * mapping that holds p, or -1. */
static long smaps_kb(const void *p, const char *field)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	long kb = -1;
	size_t flen = strlen(field);
	int in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3)
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
		else if (in && strncmp(line, field, flen) == 0 && line[flen] == ':')
			sscanf(line + flen + 1, "%ld", &kb);
	}
	fclose(f);
	return kb;
}

/* 1 when the kernel is Linux 6.1 or later (MADV_COLLAPSE). */
static int linux_6_1(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	return uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	       (major > 6 || (major == 6 && minor >= 1));
}

/* The kept memory: a verification after the first maps nothing new; the
 * region is wiped after each use and free for the kernel to take back,
 * out of core files, zeroed for children
 * (which can use it at once); without it each verification faults in the
 * whole memory again; and hashes are the same either way. */
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
	CHECK(verify_faults(h, pw) >= 0);
	CHECK(verify_faults(h, pw) < 100); /* 4 864 pages of 4 KiB without */
	CHECK(pwhash_kept_memory(&n) == p);
	CHECK(sodium_is_zero(p, n));
	CHECK(vm_flags(p, "dd wf hg"));
	CHECK(smaps_kb(p, "LazyFree") >= 19 * 1024); /* the kernel may take it back */
#ifdef MADV_PAGEOUT
	/* as it would when short of memory: the next use faults pages in
	 * again (zeroed), and verifies all the same */
	CHECK(madvise((void *)p, n, MADV_PAGEOUT) == 0);
	CHECK(smaps_kb(p, "LazyFree") == 0);
	CHECK(verify_faults(h, pw) > 0);
	CHECK(verify_faults(h, pw) < 100);
#endif
	CHECK(pwhash_verify(h, "kept memorY", strlen(pw)) == -1);
	CHECK(sodium_is_zero(p, n));
	pid = fork();
	if (pid == 0) {
		/* zero, and ours to use: a forked worker verifies at once */
		_exit(pwhash_kept_memory(&n) == p && sodium_is_zero(p, n) &&
			      verify_faults(h, pw) >= 0 && verify_faults(h, pw) < 100
			  ? 0
			  : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pwhash_release_memory();
	CHECK(pwhash_kept_memory(&n) == NULL && n == 0);

	pwhash_keep_memory(0);
	CHECK(verify_faults(h, pw) > 2000);
	CHECK(verify_faults(h, pw) > 2000);
	CHECK(pwhash_kept_memory(&n) == NULL);
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	pwhash_keep_memory(1);
	CHECK(pwhash_verify(h2, pw, strlen(pw)) == 0); /* made without, checked with */
	CHECK(pwhash_verify(h2, "kept", 4) == -1);
	CHECK(pwhash_kept_memory(&n) != NULL);
	/* a larger cost replaces the region with a larger one */
	CHECK(pwhash_init(1, 32 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(h2, pw, strlen(pw)) == 0);
	CHECK(pwhash_kept_memory(&n) != NULL && n >= 32u * 1024 * 1024);
	CHECK(pwhash_verify(h, pw, strlen(pw)) == 0); /* the smaller fits */
	CHECK(verify_faults(h2, pw) < 100);
	CHECK(pwhash_kept_memory(&n) != NULL && sodium_is_zero(pwhash_kept_memory(&n), n));
}

/* A child that verifies h with the slots' shared memory: its second
 * verification maps nothing new, it never makes a private region, the
 * shared one is zero after each use, and (Linux 6.1 on) it maps the region
 * it used with huge pages.  Exit status 0 when all hold. */
static int pool_child(const char *h, const char *pw, const unsigned char *p, size_t n)
{
	size_t m;
	int ok = verify_faults(h, pw) >= 0 && sodium_is_zero(p, n) && verify_faults(h, pw) < 100 &&
		 sodium_is_zero(p, n) && pwhash_kept_memory(&m) == NULL &&
		 (!linux_6_1() || smaps_kb(p, "ShmemPmdMapped") >= 19 * 1024);

	return ok ? 0 : 1;
}

/* With slots, one region per slot, shared by the processes forked
 * afterwards (however many take turns), out of core files. */
static void pool(void)
{
	char h[PWHASH_STRBYTES];
	const char *pw = "pooled memory";
	const unsigned char *p;
	size_t n;
	int st;

	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	pwhash_keep_memory(1);
	CHECK(pwhash_hash(h, pw, strlen(pw)) == 0);
	pwhash_release_memory();
	CHECK(pwhash_slot_memory(&n) == NULL);
	CHECK(pwhash_slots_create(2) >= 0);
	CHECK((p = pwhash_slot_memory(&n)) != NULL && n >= 2 * 19u * 1024 * 1024);
	CHECK(vm_flags(p, "sh dd"));
	/* collapsed into huge pages whatever shmem_enabled says */
	if (linux_6_1())
		CHECK(smaps_kb(p, "ShmemPmdMapped") >= (long)(n / 1024));
	for (int i = 0; i < 3; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(pool_child(h, pw, p, n));
		CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		      WEXITSTATUS(st) == 0);
	}
	/* the children's hashes went through it: pages in place (shared) */
	CHECK(verify_faults(h, pw) >= 0);
	CHECK(pwhash_kept_memory(&n) == NULL);
	/* a child killed while it verifies leaves its region unwiped (the
	 * kernel gives its slot back); scrubbing wipes every free region */
	{
		char slow[PWHASH_STRBYTES];
		pid_t pid;
		struct timespec t0, t;

		CHECK(pwhash_init(40, 19 * 1024 * 1024) == 0); /* ≈ 20 times longer */
		CHECK(pwhash_hash(slow, pw, strlen(pw)) == 0);
		CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
		CHECK(pwhash_slot_memory(&n) == p && n >= 2 * 19u * 1024 * 1024);
		CHECK(sodium_is_zero(p, n));
		CHECK(pwhash_slots_scrub() == 2);
		pid = fork();
		if (pid == 0)
			_exit(pwhash_verify(slow, pw, strlen(pw)) == 0 ? 0 : 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while (sodium_is_zero(p, n) && t.tv_sec - t0.tv_sec < 10);
		CHECK(pid > 0 && kill(pid, SIGKILL) == 0 && waitpid(pid, &st, 0) == pid &&
		      WIFSIGNALED(st));
		CHECK(!sodium_is_zero(p, n));
		CHECK(pwhash_slots_scrub() == 2);
		CHECK(sodium_is_zero(p, n));
		CHECK(verify_faults(h, pw) >= 0); /* the slots all came back */
	}
	pwhash_slots_remove();
	CHECK(pwhash_slot_memory(&n) == NULL && n == 0);
	/* without kept memory, no pool */
	pwhash_keep_memory(0);
	CHECK(pwhash_slots_create(1) >= 0);
	CHECK(pwhash_slot_memory(&n) == NULL);
	CHECK(pwhash_verify(h, pw, strlen(pw)) == 0);
	pwhash_slots_remove();
	pwhash_keep_memory(1);
}

/* The n-th CPU (0-based) this process may run on, or -1. */
static int cpu_nth(int n)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && n-- == 0)
			return c;
	return -1;
}

/* 1 when process pid (0: this one) may run on cpu alone. */
static int runs_on(pid_t pid, int cpu)
{
	cpu_set_t set;

	return sched_getaffinity(pid, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1 &&
	       CPU_ISSET(cpu, &set);
}

/* Poll (20 s at most) until one process waits for semaphore i of set id. */
static int waits_for(int id, int i)
{
	struct timespec ms = { 0, 1000000 };

	for (int k = 0; k < 20000; k++) {
		if (semctl(id, i, GETNCNT) == 1)
			return 1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* Take (op -1) or give back (+1) slot i of set id by hand, as a worker does. */
static int hold(int id, int i, int op)
{
	struct sembuf ops[2] = { { 0, (short)op, SEM_UNDO }, { (unsigned short)i, (short)op, SEM_UNDO } };

	return semop(id, ops, 2);
}

/* 1 when process pid (0: this one) may run on every CPU of all. */
static int runs_free(pid_t pid, const cpu_set_t *all)
{
	cpu_set_t set;

	return sched_getaffinity(pid, sizeof(set), &set) == 0 && CPU_EQUAL(&set, all);
}

/* Slots tied to CPUs: a hash runs on the CPU of the slot it holds; a
 * worker takes its own slot when free, another free one when not, and
 * waits for its own when all are busy; during a request that hashes
 * (pwhash_slots_stay) it stays on its own slot's CPU; workers left over
 * from an uneven division have none. */
static void pinned(void)
{
	char h[PWHASH_STRBYTES];
	const char *pw = "pinned";
	int id, c0 = cpu_nth(0), c1 = cpu_nth(1), st;
	cpu_set_t all;
	pid_t pid;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	CHECK(pwhash_init(2, 19 * 1024 * 1024) == 0);
	CHECK(pwhash_hash(h, pw, strlen(pw)) == 0);
	/* not tied: no worker has a slot of its own */
	CHECK(pwhash_slots_create(1) >= 0);
	CHECK(pwhash_slots_home(0, 2) == 0);
	CHECK(pwhash_slots_pin() == 0); /* one slot: any machine */
	pwhash_slots_remove();
	if (c1 < 0) {
		CHECK(pwhash_slots_create(2) >= 0);
		CHECK(pwhash_slots_pin() == -1); /* more slots than CPUs */
		pwhash_slots_remove();
		return;
	}
	CHECK((id = pwhash_slots_create(2)) >= 0);
	CHECK(pwhash_slots_pin() == 0);
	/* worker 1 of 4 has slot 2: it hashes on the second CPU, and runs
	 * anywhere before and after */
	pid = fork();
	if (pid == 0)
		_exit(pwhash_slots_home(1, 4) == 2 && runs_free(0, &all) &&
			      pwhash_verify(h, pw, strlen(pw)) == 0 && pwhash_last_cpu() == c1 &&
			      runs_free(0, &all)
			  ? 0
			  : 1);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* worker 0 of 4 in a request that hashes, its slots not all busy:
	 * nothing keeps it on its CPU outside the hash */
	pid = fork();
	if (pid == 0) {
		int ok = pwhash_slots_home(0, 4) == 1;

		pwhash_slots_stay(1);
		ok = ok && runs_free(0, &all) && pwhash_verify(h, pw, strlen(pw)) == 0 &&
		     pwhash_last_cpu() == c0 && runs_free(0, &all);
		pwhash_slots_stay(0);
		_exit(ok && runs_free(0, &all) ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* its slot busy and the other free: it hashes on the other's CPU */
	CHECK(hold(id, 1, -1) == 0);
	pid = fork();
	if (pid == 0) {
		int ok = pwhash_slots_home(2, 4) == 1;

		pwhash_slots_stay(1);
		_exit(ok && pwhash_verify(h, pw, strlen(pw)) == 0 && pwhash_last_cpu() == c1 &&
			      runs_free(0, &all)
			  ? 0
			  : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* all busy: it waits for its own slot, and not for the one freed
	 * first; having waited (the slots saturated), its next request that
	 * hashes runs on its slot's CPU from the start, until a hash that did
	 * not wait, or a request that does not hash */
	CHECK(hold(id, 2, -1) == 0);
	pid = fork();
	if (pid == 0) {
		int ok = pwhash_slots_home(0, 4) == 1 && pwhash_verify(h, pw, strlen(pw)) == 0 &&
			 pwhash_last_cpu() == c0 && runs_free(0, &all);

		pwhash_slots_stay(1);
		ok = ok && runs_on(0, c0);
		pwhash_slots_stay(0);
		ok = ok && runs_free(0, &all);
		pwhash_slots_stay(1);
		ok = ok && runs_on(0, c0) && pwhash_verify(h, pw, strlen(pw)) == 0 &&
		     pwhash_last_cpu() == c0 && runs_free(0, &all);
		_exit(ok ? 0 : 1);
	}
	CHECK(pid > 0 && waits_for(id, 0));
	CHECK(hold(id, 2, 1) == 0);
	CHECK(waits_for(id, 1)); /* slot 2 free, and it waits for slot 1 */
	CHECK(semctl(id, 2, GETVAL) == 1);
	CHECK(hold(id, 1, 1) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* worker 2 of 3 is left over: no slot of its own, staying does
	 * nothing, and it hashes on the CPU of the slot it takes */
	CHECK(hold(id, 1, -1) == 0);
	pid = fork();
	if (pid == 0) {
		int ok = pwhash_slots_home(2, 3) == 0;

		pwhash_slots_stay(1);
		_exit(ok && runs_free(0, &all) && pwhash_verify(h, pw, strlen(pw)) == 0 &&
			      pwhash_last_cpu() == c1 && runs_free(0, &all)
			  ? 0
			  : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(hold(id, 1, 1) == 0);
	pwhash_slots_remove();
	CHECK(pwhash_slots_home(0, 4) == 0); /* the set is gone: nothing tied */
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
	pinned();
	kept();
	pool();
	return t_done();
}
