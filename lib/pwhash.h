/* pwhash: argon2id password hashing through libsodium's crypto_pwhash_str,
 * at most one computation per CPU at once. */
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

/* From the configuration: the cost (argon2_opslimit, argon2_memlimit_kib),
 * and, when with_slots, the slots
 * (argon2_concurrency; 0: one per CPU), logged as event=argon2.  For a
 * program's init, before it forks workers.  Run again (a reload), it keeps
 * the slots it made, which live workers share, and their number.  0, or
 * -1 with err. */
int pwhash_configure(int with_slots, char *err, size_t errlen) __attribute__((warn_unused_result));

/* 1 when hash was made with other parameters than the current ones. */
int pwhash_needs_rehash(const char *hash);

/* Hash slots: at most n argon2id computations at once among this process
 * and those it forks afterwards (a program's -p workers): argon2id is
 * bound by memory, and more of them at once than CPUs only time-slices
 * their working sets (docs/auth.md).  pwhash_hash and pwhash_verify wait
 * for a slot.  A process that dies holding one gives it back (the kernel
 * undoes its semaphore operation).  The set is removed when its creator
 * exits (atexit), or by pwhash_slots_remove.  The System V semaphore set's
 * id (ipcs -s), or -1 (errno set) when the kernel refuses. */
int pwhash_slots_create(int n) __attribute__((warn_unused_result));

/* The slots free now and the processes waiting for one: 0, or -1
 * without slots. */
int pwhash_slots_state(int *free_now, int *waiting);

/* Remove the slots; pwhash_hash and pwhash_verify then run without limit. */
void pwhash_slots_remove(void);

/* CPUs this process may run on (at least 1). */
int pwhash_cpus(void);

#endif
