/* pwhash: argon2id with configurable cost and a cap on computations at
 * once. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "pwhash.h"

static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

/* The slots: a System V semaphore set of one semaphore counting the free
 * slots, or -1; made by slots_owner, which removes it at exit. */
static int slots = -1, slots_n;
static pid_t slots_owner;

/* Wait for a slot: 1 when taken, 0 without slots (or removed under us). */
static int slot_take(void)
{
	struct sembuf op = { 0, -1, SEM_UNDO };

	if (slots < 0)
		return 0;
	while (semop(slots, &op, 1) != 0)
		if (errno != EINTR)
			return 0;
	return 1;
}

/* Give back a slot slot_take took. */
static void slot_give(int taken)
{
	struct sembuf op = { 0, 1, SEM_UNDO };

	if (taken)
		(void)semop(slots, &op, 1);
}

/* semctl's fourth argument, which the caller declares (semctl(2)). */
union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* At exit: the creator removes the set; its forked workers leave it. */
static void slots_at_exit(void)
{
	if (slots >= 0 && getpid() == slots_owner)
		pwhash_slots_remove();
}

int pwhash_slots_create(int n)
{
	static int registered;
	union semun arg = { .val = n };

	if (n < 1 || n > 32767) {
		errno = EINVAL;
		return -1;
	}
	pwhash_slots_remove();
	if (!registered && atexit(slots_at_exit) != 0)
		return -1;
	registered = 1;
	slots = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (slots < 0)
		return -1;
	if (semctl(slots, 0, SETVAL, arg) != 0) {
		int e = errno;
		pwhash_slots_remove();
		errno = e;
		return -1;
	}
	slots_owner = getpid();
	slots_n = n;
	return slots;
}

int pwhash_slots_state(int *free_now, int *waiting)
{
	if (slots < 0)
		return -1;
	*free_now = semctl(slots, 0, GETVAL);
	*waiting = semctl(slots, 0, GETNCNT);
	return *free_now < 0 || *waiting < 0 ? -1 : 0;
}

void pwhash_slots_remove(void)
{
	if (slots >= 0)
		(void)semctl(slots, 0, IPC_RMID);
	slots = -1;
}

int pwhash_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

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

/* The cost, the memory and the slots from the configuration. */
int pwhash_configure(int with_slots, char *err, size_t errlen)
{
	static int configured; /* slots were set up (or refused) once */
	int n = conf_int(CONF_ARGON2_CONCURRENCY), id = -1;

	if (pwhash_init((unsigned long long)conf_int(CONF_ARGON2_OPSLIMIT),
			(size_t)conf_int(CONF_ARGON2_MEMLIMIT_KIB) * 1024) != 0) {
		snprintf(err, errlen, "argon2 parameters refused by libsodium");
		return -1;
	}
	if (!with_slots)
		return 0;
	if (n == 0)
		n = pwhash_cpus();
	if (configured && slots < 0)
		return 0; /* none at start: none now (a reload's throw-away child
			   * would leave a set it made behind) */
	configured = 1;
	if (slots >= 0) {
		/* a reload (SIGHUP): the live workers wait on this set and hold
		 * its slots; a new set beside it would double the cap */
		if (n != slots_n)
			log_warnx("event=argon2_slots_kept slots=%d wanted=%d msg=\"a changed "
				  "argon2_concurrency takes effect at a restart\"",
				  slots_n, n);
		log_info("event=argon2 pid=%ld slots=%d semid=%d kept=1", (long)getpid(), slots_n,
			 slots);
		return 0;
	}
	if ((id = pwhash_slots_create(n)) < 0) {
		log_warn("event=argon2_slots_failed slots=%d", n); /* no limit then */
		n = 0;
	}
	log_info("event=argon2 pid=%ld slots=%d semid=%d", (long)getpid(), n, id);
	return 0;
}

/* Wait for a slot (slot_take), counting the computation that follows
 * and the wait when counted (metrics.h). */
static int slot_take_counted(int counted)
{
	double t0 = clock_mono();
	int taken = slot_take();

	if (counted)
		metrics_argon2(clock_mono() - t0);
	return taken;
}

/* Hash with a fresh salt, under a slot; counted for a request. */
static int hash_str(char out[PWHASH_STRBYTES], const char *pw, size_t len, int counted)
{
	int taken = slot_take_counted(counted), rc;

	rc = crypto_pwhash_str_alg(out, pw, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13);
	slot_give(taken);
	return rc;
}

int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
{
	return hash_str(out, pw, len, 1);
}

/* Random bytes hashed at the current parameters; at start and at each
 * reload, not for a request: not counted. */
int pwhash_dummy(char out[PWHASH_STRBYTES])
{
	unsigned char rnd[32];
	int rc;

	randombytes_buf(rnd, sizeof(rnd));
	rc = hash_str(out, (const char *)rnd, sizeof(rnd), 0);
	sodium_memzero(rnd, sizeof(rnd));
	return rc;
}

/* Verify in the time the hash's own parameters take, under a slot. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	int taken = slot_take_counted(1), rc;

	rc = crypto_pwhash_str_verify(hash, pw, len);
	slot_give(taken);
	return rc == 0 ? 0 : -1;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
