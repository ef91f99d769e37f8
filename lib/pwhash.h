/* pwhash: argon2id password hashing through libsodium's crypto_pwhash_str. */
#ifndef MAGENTA_PWHASH_H
#define MAGENTA_PWHASH_H

#include <stddef.h>

#include <sodium.h>

#define PWHASH_STRBYTES crypto_pwhash_STRBYTES

/* Choose the cost: opslimit iterations, memlimit bytes.  0, or -1 when
 * libsodium would refuse them. */
int pwhash_init(unsigned long long opslimit, size_t memlimit) __attribute__((warn_unused_result));

/* Hash pw (len bytes, any content) into out as "$argon2id$...".
 * 0, or -1 when out of memory. */
int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* A hash of 32 random bytes nobody knows, made now with the parameters of
 * the last pwhash_init: the authentication service verifies unknown users
 * against it, so they cost what a user hashed at those parameters costs
 * (docs/auth.md: hashes made before a parameter change cost their own).
 * 0, or -1 when out of memory. */
int pwhash_dummy(char out[PWHASH_STRBYTES]) __attribute__((warn_unused_result));

/* 0 when pw matches hash, -1 otherwise (also for a malformed hash). */
int pwhash_verify(const char *hash, const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* 1 when hash was made with other parameters than the current ones. */
int pwhash_needs_rehash(const char *hash);

/* Hash slots: at most n argon2id computations at once among this process
 * and those it forks afterwards (a program's -p workers).  argon2id is
 * bound by memory: more of them at once than CPUs only time-slices their
 * working sets, and each then runs slower (README.md).  A
 * process that dies holding a slot gives it back (the kernel undoes its
 * semaphore operation).  The System V semaphore set's id (ipcs -s), or -1
 * (errno set) when the kernel refuses. */
int pwhash_slots_create(int n) __attribute__((warn_unused_result));

/* Tie slot i to the i-th CPU this process may run on (argon2_pin_cpus):
 * a hash then runs on the CPU of the slot it holds, and each worker has
 * a slot of its own (pwhash_slots_home), which it takes when free; else
 * any free one; else it waits for its own, so the workers of a slot take
 * turns on its CPU and no hash moves.  Measured: the kernel, placing
 * hashes itself, left both slots' holders on one CPU for moments (2-3 %
 * of the machine idle with every slot held).  0, or -1 with fewer CPUs
 * than slots (nothing tied).  For the slots' creator, before it forks. */
int pwhash_slots_pin(void);

/* In worker number `worker` (0-based) of `workers`, forked after
 * pwhash_slots_pin: its own slot (workers spread evenly over the slots;
 * those left over from an uneven division have none and take any).  The
 * slot (1..n), or 0 when it has none. */
int pwhash_slots_home(int worker, int workers);

/* At the start of a request that hashes (on): if this worker's last hash
 * had to wait for its slot (all were busy: saturated), run on its slot's
 * CPU from now on, through the request's database round trips too, until
 * a hash that did not wait or until told otherwise (off: after a request
 * that does not hash).  Measured: under a run of logins no CPU idles;
 * staying whatever the load cost 9 % of the logins with 2 at once, and
 * pinning for every request slowed the token endpoints (bench/README.md).
 * Nothing for a worker without a slot of its own. */
void pwhash_slots_stay(int on);

/* The CPU this process's last hash or verification started on (slot
 * taken, moved to its CPU), or -1.  For tests. */
int pwhash_last_cpu(void);

/* The slots' shared memory (one region per slot, pwhash_keep_memory), or
 * NULL; *size its size.  For tests. */
const void *pwhash_slot_memory(size_t *size);

/* Wipe the pool's regions of the slots free now (each taken for the
 * moment): a worker that died while hashing (killed, crashed) got its slot
 * back from the kernel, but its region still holds that computation's
 * memory until the slot's next holder overwrites it.  For the supervisor,
 * when a worker died.  Returns the regions wiped. */
int pwhash_slots_scrub(void);

/* The slots free now and the processes waiting for one: 0, or -1
 * without slots. */
int pwhash_slots_state(int *free_now, int *waiting);

/* Remove the slots (their creator, once the processes using them are
 * gone); pwhash_hash and pwhash_verify then run without limit. */
void pwhash_slots_remove(void);

/* Keep argon2id's working memory between computations (on unless turned
 * off): libsodium maps a fresh region for each one, which the kernel
 * zero-fills page by page, a quarter of a verification's time; a kept
 * region is wiped after each use instead (sodium_memzero) and left out of
 * core files.  With slots (made after this call), one region per slot,
 * shared by the processes forked afterwards: memlimit bytes per slot,
 * however many workers.  Without, each thread that hashes keeps a private
 * region of about memlimit bytes for as long as it lives, zeroed in
 * children, which the kernel may take back between uses when short of
 * memory (MADV_FREE; the next use then faults it in again).  Works
 * by defining mmap and munmap (pwhash.c says how); with a libsodium that
 * does not map its memory, nothing is kept. */
void pwhash_keep_memory(int on);

/* Unmap this thread's kept region, if any (a process that has hashed
 * and will not again, such as a supervisor before it forks workers). */
void pwhash_release_memory(void);

/* How argon2id's memory is kept now: "per-slot" (the slots' shared pool),
 * "per-worker" (private regions) or "off" (libsodium's own way). */
const char *pwhash_memory_kind(void);

/* This thread's private kept region, or NULL; *size its size.  For tests. */
const void *pwhash_kept_memory(size_t *size);

/* CPUs this process may run on (at least 1). */
int pwhash_cpus(void);

#endif
