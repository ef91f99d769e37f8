/* pwhash: argon2id with configurable cost. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* The kept memory (pwhash.h): libsodium's argon2id maps its working memory
 * with mmap for each computation, populated page by page, and unmaps it
 * afterwards: the kernel zero-fills every 4 KiB page again each time, a
 * quarter of a verification's time.  libsodium has no allocator hook, so
 * this module defines mmap and munmap itself: executables export them and
 * libsodium's calls bind to them.  While we are inside libsodium (and only
 * then), a private read-write anonymous mapping is answered with the kept
 * region, and its munmap wipes it instead (and offers its pages to the
 * kernel, MADV_FREE: an idle worker's region costs memory only while
 * nothing else needs it).  Everything else goes on to the
 * C library's.  Per thread, so threads never share one. */
static int keep_memory = 1;
static __thread int kept_open; /* inside our call into libsodium */
static __thread int kept_lent; /* libsodium holds the region now */
static __thread void *kept;
static __thread size_t kept_size;

#define KEPT_ALIGN (2u * 1024 * 1024) /* a huge page */

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

/* Map the kept region for len bytes (replacing a smaller one); 0 or -1. */
static int kept_map(size_t len)
{
	/* a multiple of the huge page size: the kernel then aligns it, and
	 * with transparent huge pages allowed (madvise or always) it is all
	 * huge pages, fewer TLB misses */
	size_t size = (len + KEPT_ALIGN - 1) / KEPT_ALIGN * KEPT_ALIGN;
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
	if (!kept_open || kept_lent || addr != NULL || fd != -1 ||
	    prot != (PROT_READ | PROT_WRITE) ||
	    (flags & (MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)) !=
		(MAP_PRIVATE | MAP_ANONYMOUS))
		return next_mmap(addr, len, prot, flags, fd, off);
	if (len > kept_size && kept_map(len) != 0)
		return next_mmap(addr, len, prot, flags, fd, off);
	kept_lent = 1;
	return kept;
}

/* Wipe the kept region (its first len bytes were used) and let the kernel
 * take its pages back whenever it is short of memory, without writing them
 * anywhere: until it does, the next use finds them in place. */
static void kept_wipe(size_t len)
{
	sodium_memzero(kept, len);
#ifdef MADV_FREE
	(void)madvise(kept, kept_size, MADV_FREE);
#endif
	kept_lent = 0;
}

int munmap(void *addr, size_t len)
{
	if (!kept_lent || addr != kept || len > kept_size)
		return next_munmap(addr, len);
	kept_wipe(len);
	return 0;
}

/* Call into libsodium with the kept region on offer. */
static void kept_offer(void)
{
	kept_open = keep_memory;
}

/* End the offer; a region libsodium did not give back is wiped all the same. */
static void kept_withdraw(void)
{
	kept_open = 0;
	if (kept_lent)
		kept_wipe(kept_size);
}

void pwhash_keep_memory(int on)
{
	keep_memory = on;
	if (!on)
		pwhash_release_memory();
}

void pwhash_release_memory(void)
{
	if (!kept || kept_lent)
		return;
	(void)next_munmap(kept, kept_size);
	kept = NULL;
	kept_size = 0;
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
	int taken = slot_take(), rc;

	kept_offer();
	rc = crypto_pwhash_str_alg(out, pw, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13);
	kept_withdraw();
	slot_give(taken);
	return rc;
}

/* Verify in the time the hash's own parameters take. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	int taken = slot_take(), rc;

	kept_offer();
	rc = crypto_pwhash_str_verify(hash, pw, len);
	kept_withdraw();
	slot_give(taken);
	return rc == 0 ? 0 : -1;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
