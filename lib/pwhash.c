/* pwhash: argon2id with configurable cost. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pwhash.h"

static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

/* The slots: a System V semaphore set, or -1.  Semaphore 0 counts the
 * free slots (the one processes wait on); semaphores 1..nslots are one
 * per slot, 1 while free, so that a holder knows which slot it has and
 * uses that slot's region of the pool. */
static int slots = -1;
static int nslots;

/* The kept memory (pwhash.h): libsodium's argon2id maps its working memory
 * with mmap for each computation, populated page by page, and unmaps it
 * afterwards: the kernel zero-fills every 4 KiB page again each time, a
 * quarter of a verification's time.  libsodium has no allocator hook, so
 * this module defines mmap and munmap itself: executables export them and
 * libsodium's calls bind to them.  While we are inside libsodium (and only
 * then), a private read-write anonymous mapping is answered with a kept
 * region, and its munmap wipes it instead.  Everything else goes on to the
 * C library's.
 *
 * Which region: with slots, the pool's region of the slot held — one per
 * slot, shared by the processes forked after the slots were made, so the
 * next holder of a slot finds its region warm in the caches, however many
 * workers take turns (a region per worker went cold as more workers took
 * turns: bench/README.md); without, one private region per thread,
 * offered to the kernel between uses (MADV_FREE: an idle worker's region
 * costs memory only while nothing else needs it). */
static int keep_memory = 1;
static unsigned char *pool; /* nslots regions of pool_size, or NULL */
static size_t pool_size;
static __thread int slot_held; /* 1..nslots while hashing with a slot */
static __thread int kept_open; /* inside our call into libsodium */
static __thread void *lent;    /* the region libsodium holds now, or NULL */
static __thread void *kept;    /* this thread's private region, or NULL */
static __thread size_t kept_size;

#define KEPT_ALIGN (2u * 1024 * 1024) /* a huge page */

/* size rounded up to whole huge pages: the kernel then aligns a mapping
 * that large, and with transparent huge pages allowed (madvise or always)
 * a private one is all huge pages, fewer TLB misses. */
static size_t huge_round(size_t size)
{
	return (size + KEPT_ALIGN - 1) / KEPT_ALIGN * KEPT_ALIGN;
}

/* Slots tied to CPUs (pwhash_slots_pin): slot i's CPU, and this worker's
 * own slot (0: none, it takes any).  A worker runs on the CPU of a slot
 * it holds, and, once its hashes have had to wait (slots saturated), on
 * its own slot's CPU through whole requests that hash (pwhash_slots_stay);
 * otherwise on cpus_free (the CPUs it may run on), where the kernel finds
 * room. */
static int slot_cpu[257];
static int slots_pinned;
static int slot_home;
static int slot_staying; /* inside pwhash_slots_stay(1) */
static int slot_waited;  /* the last slot taken was waited for: all were busy */
static int hash_cpu = -1;  /* where the last hash started (pwhash_last_cpu) */
static cpu_set_t cpus_free;

/* Run on cpu alone (-1: on cpus_free). */
static void cpu_go(int cpu)
{
	cpu_set_t one;

	if (cpu < 0) {
		(void)sched_setaffinity(0, sizeof(cpus_free), &cpus_free);
		return;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	(void)sched_setaffinity(0, sizeof(one), &one);
}

/* Take slot i and one of the count, both or neither; block unless nowait. */
static int slot_take_one(int i, int nowait)
{
	struct sembuf ops[2] = { { 0, -1, SEM_UNDO }, { (unsigned short)i, -1, SEM_UNDO } };

	if (nowait)
		ops[0].sem_flg = ops[1].sem_flg = SEM_UNDO | IPC_NOWAIT;
	while (semop(slots, ops, 2) != 0)
		if (nowait || errno != EINTR)
			return -1;
	return 0;
}

/* A slot for a worker whose slots are tied to CPUs: its own slot when
 * free, else any free one (whose CPU would otherwise idle), else wait for
 * its own, so that the hashes of one CPU's slot take turns on that CPU
 * and no hash moves.  0 when the set is gone; -1 for a worker without a
 * slot of its own that found none free (it waits for any). */
static int slot_take_pinned(void)
{
	slot_waited = 0;
	if (slot_home && slot_take_one(slot_home, 1) == 0)
		return slot_home;
	for (int i = 1; i <= nslots; i++)
		if (i != slot_home && slot_take_one(i, 1) == 0)
			return i;
	slot_waited = 1;
	if (slot_home)
		return slot_take_one(slot_home, 0) == 0 ? slot_home : 0;
	return -1;
}

/* Wait for a slot: its number (1..nslots), or 0 when there are none. */
static int slot_take(void)
{
	struct sembuf any = { 0, -1, SEM_UNDO };
	int i;

	if (slots < 0)
		return 0;
	if (slots_pinned && (i = slot_take_pinned()) >= 0) {
		if (i > 0 && (i != slot_home || !slot_staying))
			cpu_go(slot_cpu[i]);
		return i;
	}
	while (semop(slots, &any, 1) != 0)
		if (errno != EINTR)
			return 0; /* removed under us: no limit */
	/* one of them is free: each holder of a count holds one slot */
	for (i = 1; i <= nslots; i++) {
		struct sembuf one = { (unsigned short)i, -1, SEM_UNDO | IPC_NOWAIT };

		if (semop(slots, &one, 1) == 0) {
			if (slots_pinned)
				cpu_go(slot_cpu[i]);
			return i;
		}
	}
	any.sem_op = 1; /* removed under us, or foreign hands on the set */
	(void)semop(slots, &any, 1);
	return 0;
}

/* Give slot i back (both semaphores in one operation), and leave its CPU. */
static void slot_give(int i)
{
	struct sembuf ops[2] = { { (unsigned short)i, 1, SEM_UNDO }, { 0, 1, SEM_UNDO } };

	if (i <= 0)
		return;
	(void)semop(slots, ops, 2);
	if (!slots_pinned)
		return;
	if (slot_staying && !slot_waited) {
		slot_staying = 0; /* the slots are not all busy: no need to stay */
		cpu_go(-1);
	} else if (i != slot_home || !slot_staying) {
		cpu_go(slot_staying && slot_home ? slot_cpu[slot_home] : -1);
	}
}

/* The C library's mmap (or whatever the next object defines). */
static void *next_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *sym; /* any thread may get here first: atomic */
	void *(*next)(void *, size_t, int, int, int, off_t);
	void *p = __atomic_load_n(&sym, __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, "mmap");
		__atomic_store_n(&sym, p, __ATOMIC_RELEASE);
	}
	if (!p)
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	*(void **)&next = p;
	return next(addr, len, prot, flags, fd, off);
}

/* The C library's munmap. */
static int next_munmap(void *addr, size_t len)
{
	static void *sym;
	int (*next)(void *, size_t);
	void *p = __atomic_load_n(&sym, __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, "munmap");
		__atomic_store_n(&sym, p, __ATOMIC_RELEASE);
	}
	if (!p)
		return (int)syscall(SYS_munmap, addr, len);
	*(void **)&next = p;
	return next(addr, len);
}

/* Map this thread's private region for len bytes (replacing a smaller
 * one); 0 or -1. */
static int kept_map(size_t len)
{
	size_t size = huge_round(len);
	void *p = next_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	pwhash_release_memory();
	kept = p;
	kept_size = size;
	/* each is advice: a kernel that does not know it refuses it alone */
#ifdef MADV_HUGEPAGE
	(void)madvise(kept, kept_size, MADV_HUGEPAGE);
#endif
#ifdef MADV_DONTDUMP
	(void)madvise(kept, kept_size, MADV_DONTDUMP); /* not in core files */
#endif
#ifdef MADV_WIPEONFORK
	(void)madvise(kept, kept_size, MADV_WIPEONFORK); /* children start zeroed */
#endif
	return 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!kept_open || lent || addr != NULL || fd != -1 || prot != (PROT_READ | PROT_WRITE) ||
	    (flags & (MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)) !=
		(MAP_PRIVATE | MAP_ANONYMOUS))
		return next_mmap(addr, len, prot, flags, fd, off);
	if (slot_held && pool && len <= pool_size)
		lent = pool + (size_t)(slot_held - 1) * pool_size;
	else if (len <= kept_size || kept_map(len) == 0)
		lent = kept;
	else
		return next_mmap(addr, len, prot, flags, fd, off);
	return lent;
}

/* Wipe the lent region (its first len bytes were used) and take it back.
 * A private one is offered to the kernel, which may take its pages back
 * when short of memory, without writing them anywhere: until it does, the
 * next use finds them in place. */
static void lent_wipe(size_t len)
{
	sodium_memzero(lent, len);
#ifdef MADV_FREE
	if (lent == kept)
		(void)madvise(kept, kept_size, MADV_FREE);
#endif
	lent = NULL;
}

int munmap(void *addr, size_t len)
{
	if (!lent || addr != lent || len > (lent == kept ? kept_size : pool_size))
		return next_munmap(addr, len);
	lent_wipe(len);
	return 0;
}

/* Call into libsodium with a kept region on offer (slot: the one held). */
static void kept_offer(int slot)
{
	hash_cpu = sched_getcpu();
	slot_held = slot;
	kept_open = keep_memory;
}

/* End the offer; a region libsodium did not give back is wiped all the same. */
static void kept_withdraw(void)
{
	kept_open = 0;
	if (lent)
		lent_wipe(lent == kept ? kept_size : pool_size);
	slot_held = 0;
}

/* semctl's fourth argument, which the caller declares (semctl(2)). */
union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* The pool, shared by the processes forked from here on; without it (no
 * memory), each keeps a private region as without slots.  Huge pages: a
 * shared mapping gets them at fault time only where shmem_enabled allows
 * (advise, always; Debian's default is never), so the pool is filled and
 * then collapsed into huge pages (MADV_COLLAPSE, Linux 6.1: independent
 * of that setting).  The pages are the shared object's: every worker then
 * maps them huge too (fewer TLB misses: ≈ 8 % more verifications per
 * second here, bench/README.md).  Collapsing needs the object's offsets
 * and the addresses aligned alike, so the pool is placed on a huge page
 * boundary.  Where collapsing is unknown or fails, the pool is used as it
 * is. */
static void pool_map(int n)
{
	size_t size = (size_t)n * huge_round(pw_mem);
	unsigned char *r, *p;
	size_t lead;

	r = next_mmap(NULL, size + KEPT_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	if (r == MAP_FAILED)
		return;
	lead = (KEPT_ALIGN - (uintptr_t)r % KEPT_ALIGN) % KEPT_ALIGN;
	p = next_mmap(r + lead, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
		      -1, 0);
	if (p == MAP_FAILED) {
		(void)next_munmap(r, size + KEPT_ALIGN);
		return;
	}
	if (lead)
		(void)next_munmap(r, lead);
	(void)next_munmap(p + size, KEPT_ALIGN - lead);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, size, MADV_HUGEPAGE);
#endif
#ifdef MADV_DONTDUMP
	(void)madvise(p, size, MADV_DONTDUMP);
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; older kernels answer EINVAL */
#endif
	memset(p, 0, size); /* collapsing needs pages to collapse */
	(void)madvise(p, size, MADV_COLLAPSE);
	pool = p;
	pool_size = huge_round(pw_mem);
}

int pwhash_slots_create(int n)
{
	unsigned short val[257];
	union semun arg = { .array = val };

	if (n < 1 || n > 256) {
		errno = EINVAL;
		return -1;
	}
	pwhash_slots_remove();
	slots = semget(IPC_PRIVATE, n + 1, IPC_CREAT | 0600);
	if (slots < 0)
		return -1;
	val[0] = (unsigned short)n;
	for (int i = 1; i <= n; i++)
		val[i] = 1;
	if (semctl(slots, 0, SETALL, arg) != 0) {
		int e = errno;
		pwhash_slots_remove();
		errno = e;
		return -1;
	}
	nslots = n;
	if (keep_memory)
		pool_map(n);
	return slots;
}

int pwhash_slots_scrub(void)
{
	int n = 0;

	if (slots < 0 || !pool)
		return 0;
	for (int i = 1; i <= nslots; i++) {
		/* the slot and one of the count, both or neither */
		struct sembuf give[2] = { { (unsigned short)i, 1, SEM_UNDO }, { 0, 1, SEM_UNDO } };

		if (slot_take_one(i, 1) != 0)
			continue; /* in use: being overwritten by its holder */
		sodium_memzero(pool + (size_t)(i - 1) * pool_size, pool_size);
		(void)semop(slots, give, 2);
		n++;
	}
	return n;
}

int pwhash_slots_pin(void)
{
	cpu_set_t set;
	int c, k = 0;

	if (slots < 0 || sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < nslots)
		return -1;
	for (c = 0; c < CPU_SETSIZE && k < nslots; c++)
		if (CPU_ISSET(c, &set))
			slot_cpu[++k] = c;
	cpus_free = set;
	slots_pinned = 1;
	return 0;
}

int pwhash_slots_home(int worker, int workers)
{
	if (!slots_pinned || worker < 0 || worker >= workers - workers % nslots)
		return 0;
	slot_home = worker % nslots + 1;
	return slot_home;
}

void pwhash_slots_stay(int on)
{
	if (!slots_pinned || !slot_home || on == slot_staying || (on && !slot_waited))
		return;
	slot_staying = on;
	cpu_go(on ? slot_cpu[slot_home] : -1);
}

int pwhash_last_cpu(void)
{
	return hash_cpu;
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
	if (pool)
		(void)next_munmap(pool, (size_t)nslots * pool_size);
	pool = NULL;
	pool_size = 0;
	nslots = 0;
	slots_pinned = 0;
	slot_home = 0;
	slot_staying = 0;
}

const void *pwhash_slot_memory(size_t *size)
{
	*size = (size_t)nslots * pool_size;
	return pool;
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

void pwhash_keep_memory(int on)
{
	keep_memory = on;
	if (!on)
		pwhash_release_memory();
}

void pwhash_release_memory(void)
{
	if (!kept || lent == kept)
		return;
	(void)next_munmap(kept, kept_size);
	kept = NULL;
	kept_size = 0;
}

const char *pwhash_memory_kind(void)
{
	return !keep_memory ? "off" : pool ? "per-slot" : "per-worker";
}

const void *pwhash_kept_memory(size_t *size)
{
	*size = kept_size;
	return kept;
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
	int slot = slot_take(), rc;

	kept_offer(slot);
	rc = crypto_pwhash_str_alg(out, pw, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13);
	kept_withdraw();
	slot_give(slot);
	return rc;
}

/* Random bytes hashed at the current parameters. */
int pwhash_dummy(char out[PWHASH_STRBYTES])
{
	unsigned char rnd[32];
	int rc;

	randombytes_buf(rnd, sizeof(rnd));
	rc = pwhash_hash(out, (const char *)rnd, sizeof(rnd));
	sodium_memzero(rnd, sizeof(rnd));
	return rc;
}

/* Verify in the time the hash's own parameters take. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	int slot = slot_take(), rc;

	kept_offer(slot);
	rc = crypto_pwhash_str_verify(hash, pw, len);
	kept_withdraw();
	slot_give(slot);
	return rc == 0 ? 0 : -1;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
