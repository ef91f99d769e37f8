/* pwhash: argon2id with configurable cost, a cap on computations at once
 * and a kept working region. */
#include "config.h"

#include <argon2.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "phc.h"
#include "pwhash.h"

#define PWHASH_SALTBYTES 16 /* libsodium's crypto_pwhash_SALTBYTES */
#define PWHASH_HASHBYTES 32 /* and its crypto_pwhash_str output */
#define PWHASH_MAXBYTES 64  /* a salt or hash accepted for verification */

static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

/* The slots: a System V semaphore set of one semaphore counting the free
 * slots, or -1; made by slots_owner, which removes it at exit. */
static int slots = -1;
static pid_t slots_owner;

/* The kept region (pwhash.h), lent to libargon2 by its allocator
 * callbacks: one computation at a time per thread. */
static int keep_memory = 1;
static __thread uint8_t *kept;
static __thread size_t kept_size;

#define KEPT_ALIGN (2u * 1024 * 1024) /* a huge page */

/* Map this thread's region for len bytes (replacing a smaller one),
 * rounded up to whole huge pages: with transparent huge pages allowed for
 * regions that ask (enabled = madvise, Debian's default), the region is
 * then all huge pages: fewer page faults and TLB misses.  0 or -1. */
static int kept_map(size_t len)
{
	size_t size = (len + KEPT_ALIGN - 1) / KEPT_ALIGN * KEPT_ALIGN;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	pwhash_release_memory();
	kept = p;
	kept_size = size;
	/* each is advice: a kernel that does not know one refuses it alone */
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

/* libargon2's allocate_cbk: lend the kept region. */
static int kept_lend(uint8_t **memory, size_t len)
{
	if (len > kept_size && kept_map(len) != 0)
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	*memory = kept;
	return ARGON2_OK;
}

/* libargon2's free_cbk: wipe what was used.  libargon2 clears its memory
 * itself first (FLAG_clear_internal_memory, a global anyone may change):
 * this wipe does not depend on it. */
static void kept_return(uint8_t *memory, size_t len)
{
	sodium_memzero(memory, len);
}

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

/* Run ctx as argon2 type under a slot: verify against want (ctx->outlen
 * bytes, constant time) when not NULL, else hash into ctx->out.  0 or -1. */
static int run(argon2_context *ctx, argon2_type type, const uint8_t *want)
{
	int taken, rc;

	ctx->threads = 1; /* the slots, not libargon2's threads, use the CPUs */
	ctx->flags = ARGON2_DEFAULT_FLAGS;
	ctx->allocate_cbk = keep_memory ? kept_lend : NULL;
	ctx->free_cbk = keep_memory ? kept_return : NULL;
	taken = slot_take();
	rc = want ? argon2_verify_ctx(ctx, (const char *)want, type) : argon2_ctx(ctx, type);
	slot_give(taken);
	return rc == ARGON2_OK ? 0 : -1;
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

void pwhash_keep_memory(int on)
{
	keep_memory = on;
	if (!on)
		pwhash_release_memory();
}

void pwhash_release_memory(void)
{
	if (!kept)
		return;
	(void)munmap(kept, kept_size);
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
	    memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > crypto_pwhash_MEMLIMIT_MAX ||
	    opslimit > UINT32_MAX || memlimit / 1024 > UINT32_MAX)
		return -1;
	pw_ops = opslimit;
	pw_mem = memlimit;
	return 0;
}

/* The cost, the memory and the slots from the configuration. */
int pwhash_configure(int with_slots, char *err, size_t errlen)
{
	int n = conf_int(CONF_ARGON2_CONCURRENCY), id = -1;

	if (pwhash_init((unsigned long long)conf_int(CONF_ARGON2_OPSLIMIT),
			(size_t)conf_int(CONF_ARGON2_MEMLIMIT_KIB) * 1024) != 0) {
		snprintf(err, errlen, "argon2 parameters refused by libsodium");
		return -1;
	}
	pwhash_keep_memory(conf_bool(CONF_ARGON2_KEEP_MEMORY));
	if (!with_slots)
		return 0;
	if (n == 0)
		n = pwhash_cpus();
	if ((id = pwhash_slots_create(n)) < 0) {
		log_warn("event=argon2_slots_failed slots=%d", n); /* no limit then */
		n = 0;
	}
	log_info("event=argon2 pid=%ld slots=%d semid=%d memory=%s", (long)getpid(), n, id,
		 keep_memory ? "kept" : "fresh");
	return 0;
}

/* Hash with a fresh salt, encoded as libsodium's crypto_pwhash_str does. */
int pwhash_hash(char out[PWHASH_STRBYTES], const char *pw, size_t len)
{
	uint8_t salt[PWHASH_SALTBYTES], hash[PWHASH_HASHBYTES];
	char salt64[sodium_base64_ENCODED_LEN(PWHASH_SALTBYTES,
					      sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char hash64[sodium_base64_ENCODED_LEN(PWHASH_HASHBYTES,
					      sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	argon2_context ctx = { 0 };
	int rc = -1, n;

	if (len > UINT32_MAX)
		return -1;
	randombytes_buf(salt, sizeof(salt));
	ctx.out = hash;
	ctx.outlen = sizeof(hash);
	ctx.pwd = (uint8_t *)(uintptr_t)pw; /* only read (ARGON2_DEFAULT_FLAGS) */
	ctx.pwdlen = (uint32_t)len;
	ctx.salt = salt;
	ctx.saltlen = sizeof(salt);
	ctx.t_cost = (uint32_t)pw_ops;
	ctx.m_cost = (uint32_t)(pw_mem / 1024);
	ctx.lanes = 1;
	ctx.version = ARGON2_VERSION_13;
	if (run(&ctx, Argon2_id, NULL) != 0)
		goto out;
	sodium_bin2base64(salt64, sizeof(salt64), salt, sizeof(salt),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	sodium_bin2base64(hash64, sizeof(hash64), hash, sizeof(hash),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	n = snprintf(out, PWHASH_STRBYTES, "$argon2id$v=%d$m=%u,t=%u,p=1$%s$%s", ARGON2_VERSION_13,
		     ctx.m_cost, ctx.t_cost, salt64, hash64);
	rc = n > 0 && (size_t)n < PWHASH_STRBYTES ? 0 : -1;
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(hash64, sizeof(hash64));
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

/* Decode the base64 field [b, e) of a PHC string into out; its length or
 * -1. */
static int b64_field(uint8_t out[PWHASH_MAXBYTES], const char *b, const char *e)
{
	size_t n;
	const char *end;

	if (sodium_base642bin(out, PWHASH_MAXBYTES, b, (size_t)(e - b), NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    end != e)
		return -1;
	return (int)n;
}

/* Verify in the time the hash's own parameters take. */
int pwhash_verify(const char *hash, const char *pw, size_t len)
{
	struct phc_argon2 ph;
	uint8_t salt[PWHASH_MAXBYTES], want[PWHASH_MAXBYTES], got[PWHASH_MAXBYTES];
	argon2_context ctx = { 0 };
	const char *h, *s, *v;
	int saltlen, wantlen, rc = -1;

	if (len > UINT32_MAX || phc_argon2_parse(hash, &ph) != 0 || ph.m > UINT32_MAX ||
	    ph.t > UINT32_MAX || ph.p > ARGON2_MAX_LANES)
		return -1;
	/* phc_argon2_parse checked the shape: ...p=N$salt$hash, no other '$' */
	h = strrchr(hash, '$');
	for (s = h - 1; *s != '$'; s--)
		;
	v = strchr(hash + 1, '$') + 1;
	if ((saltlen = b64_field(salt, s + 1, h)) < 0 ||
	    (wantlen = b64_field(want, h + 1, h + strlen(h))) < 0)
		goto out;
	ctx.out = got;
	ctx.outlen = (uint32_t)wantlen;
	ctx.pwd = (uint8_t *)(uintptr_t)pw;
	ctx.pwdlen = (uint32_t)len;
	ctx.salt = salt;
	ctx.saltlen = (uint32_t)saltlen;
	ctx.t_cost = (uint32_t)ph.t;
	ctx.m_cost = (uint32_t)ph.m;
	ctx.lanes = (uint32_t)ph.p;
	ctx.version = strncmp(v, "v=19$", 5) == 0 ? ARGON2_VERSION_13 : ARGON2_VERSION_10;
	rc = run(&ctx, strcmp(ph.type, "argon2id") == 0 ? Argon2_id : Argon2_i, want);
out:
	sodium_memzero(got, sizeof(got));
	return rc;
}

/* Compare the hash's parameters with the configured ones. */
int pwhash_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, pw_ops, pw_mem) != 0;
}
