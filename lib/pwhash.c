/* pwhash: argon2id with configurable cost. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <sys/sem.h>

#include "pwhash.h"

static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;
static int slots = -1; /* System V semaphore set of one, or -1 */

/* Wait for a slot; 1 when taken, 0 when there are none to take. */
static int slot_take(void)
{
	struct sembuf op = { 0, -1, SEM_UNDO };

	if (slots < 0)
		return 0;
	while (semop(slots, &op, 1) != 0)
		if (errno != EINTR)
			return 0; /* removed under us: no limit */
	return 1;
}

static void slot_give(int taken)
{
	struct sembuf op = { 0, 1, SEM_UNDO };

	if (taken)
		(void)semop(slots, &op, 1);
}

int pwhash_slots_create(int n)
{
	if (n < 1) {
		errno = EINVAL;
		return -1;
	}
	pwhash_slots_remove();
	slots = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (slots < 0)
		return -1;
	if (semctl(slots, 0, SETVAL, n) != 0) {
		int e = errno;
		pwhash_slots_remove();
		errno = e;
		return -1;
	}
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

/* Hash with a fresh salt. */
int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
{
	int taken = slot_take(), rc;

	rc = crypto_pwhash_str_alg(out, pw, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13);
	slot_give(taken);
	return rc;
}

/* Verify in the time the hash's own parameters take. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	int taken = slot_take(), rc;

	rc = crypto_pwhash_str_verify(hash, pw, len);
	slot_give(taken);
	return rc == 0 ? 0 : -1;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
