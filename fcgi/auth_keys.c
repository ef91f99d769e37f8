/* auth_keys: magenta-auth's signing keys: jwt_keys, or the key ring of
 * jwt_key_dir (keyring.h), which is read again when a key's state
 * changes (a standby key starts signing, a retired one leaves: at that
 * second) and when the directory does (magentactl key rotate, prune: seen
 * within a second).  Every worker does so by itself: nothing to reload. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "conf.h"
#include "keyring.h"
#include "log.h"
#include "token_key.h"

static struct {
	long long next_change; /* a state changes then (0: none) */
	struct timespec mtime;  /* of the directory when read */
	double checked;         /* monotonic seconds of the last look */
	int failing;            /* the last reload failed (logged once) */
} ring;

/* A new context for the keys in use into *t (with a key ring: each key's
 * end and the signing key's last second, so that a process that cannot
 * read the ring again later fails closed), and the ring's next change
 * and modification time into *next, *mtime.  0, or -1 with err. */
static int load(struct token_ctx *t, long long *next, struct timespec *mtime, char *err,
		size_t errlen)
{
	const char *dir = conf_str(CONF_JWT_KEY_DIR);
	const char *iss = conf_str(CONF_JWT_ISSUER), *aud = conf_str(CONF_JWT_AUDIENCE);
	long leeway = conf_int(CONF_JWT_LEEWAY);
	const struct keyring_key *use[KEYRING_MAX];
	char paths[KEYRING_MAX * 1100];
	struct keyring k;
	struct stat st;
	size_t n;

	*next = 0;
	if (!*dir)
		return token_ctx_init(t, conf_str(CONF_JWT_KEYS), conf_str(CONF_JWT_ALG), iss, aud,
				      leeway, err, errlen);
	memset(mtime, 0, sizeof(*mtime));
	if (stat(dir, &st) == 0)
		*mtime = st.st_mtim;
	if (keyring_scan(dir, (long long)time(NULL), conf_int(CONF_ACCESS_TTL) + leeway, &k, err,
			 errlen) != 0)
		return -1;
	if (keyring_paths(&k, paths, sizeof(paths)) != 0) {
		snprintf(err, errlen, "key directory '%s': paths too long", dir);
		return -1;
	}
	/* jwt_alg is the algorithm of keys to come (key rotate): a ring may
	 * be half-way from one to the other */
	if (token_ctx_init(t, paths, NULL, iss, aud, leeway, err, errlen) != 0)
		return -1;
	n = keyring_in_use(&k, use);
	for (size_t i = 0; i < n && i < t->nkeys; i++)
		t->keys[i].not_after = use[i]->ends;
	t->sign_until = keyring_sign_until(&k);
	*next = k.next_change;
	return 0;
}

int auth_keys_init(char *err, size_t errlen)
{
	ring.checked = clock_mono();
	if (load(&auth.tok, &ring.next_change, &ring.mtime, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < auth.tok.nkeys; i++)
		log_info("event=key kid=%s alg=%s%s", token_key_kid(&auth.tok, i),
			 token_key_alg(&auth.tok, i), i == 0 ? " signing=1" : "");
	return 0;
}

void auth_keys_check(void)
{
	const char *dir = conf_str(CONF_JWT_KEY_DIR);
	char err[512];
	double now = clock_mono();
	long long next;
	struct timespec mtime;
	struct token_ctx fresh;
	struct stat st;
	int changed;

	if (!*dir)
		return;
	/* a state's time: at once (a time() call); a changed directory: seen
	 * within a second (a stat() call) */
	changed = ring.next_change && (long long)time(NULL) >= ring.next_change;
	if (!changed) {
		if (now - ring.checked < 1.0)
			return;
		ring.checked = now;
		if (stat(dir, &st) != 0 || (st.st_mtim.tv_sec == ring.mtime.tv_sec &&
					    st.st_mtim.tv_nsec == ring.mtime.tv_nsec))
			return;
	}
	memset(&fresh, 0, sizeof(fresh));
	if (load(&fresh, &next, &mtime, err, sizeof(err)) != 0 ||
	    auth_wellknown_rebuild(&fresh) != 0) {
		/* the keys in use stay, within their bounds (the signing key
		 * stops at its successor's start, a retired key at its end:
		 * token.c); tried again in a second */
		if (!ring.failing)
			log_error("event=keys_reload_failed err=\"%s\"",
				  fresh.nkeys ? "out of memory" : err);
		ring.failing = 1;
		if (fresh.nkeys)
			token_ctx_release(&fresh);
		ring.next_change = 0;
		ring.mtime.tv_sec = 0;
		ring.mtime.tv_nsec = 0;
		return;
	}
	ring.next_change = next;
	ring.mtime = mtime;
	ring.failing = 0;
	token_ctx_release(&auth.tok);
	auth.tok = fresh;
	log_info("event=keys_changed signing=%s keys=%zu", token_key_kid(&auth.tok, 0),
		 auth.tok.nkeys);
}
