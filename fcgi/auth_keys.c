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

static struct {
	long long next_change; /* a state changes then (0: none) */
	struct timespec mtime;  /* of the directory when read */
	double checked;         /* monotonic seconds of the last look */
} ring;

/* The keys in use into paths: 0, or -1 with err. */
static int key_paths(char *paths, size_t cap, char *err, size_t errlen)
{
	const char *dir = conf_str(CONF_JWT_KEY_DIR);
	struct stat st;

	if (!*dir) {
		snprintf(paths, cap, "%s", conf_str(CONF_JWT_KEYS));
		return 0;
	}
	if (stat(dir, &st) == 0)
		ring.mtime = st.st_mtim;
	return keyring_current(dir, (long long)time(NULL),
			       conf_int(CONF_ACCESS_TTL) + conf_int(CONF_JWT_LEEWAY), paths, cap,
			       &ring.next_change, err, errlen);
}

/* A new context for paths into *t: 0, or -1 with err. */
static int load(struct token_ctx *t, const char *paths, char *err, size_t errlen)
{
	return token_ctx_init(t, paths, conf_str(CONF_JWT_ALG), conf_str(CONF_JWT_ISSUER),
			      conf_str(CONF_JWT_AUDIENCE), conf_int(CONF_JWT_LEEWAY), err, errlen);
}

int auth_keys_init(char *err, size_t errlen)
{
	char paths[KEYRING_MAX * 1100];

	ring.checked = clock_mono();
	if (key_paths(paths, sizeof(paths), err, errlen) != 0 ||
	    load(&auth.tok, paths, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < auth.tok.nkeys; i++)
		log_info("event=key kid=%s alg=%s%s", token_key_kid(&auth.tok, i),
			 token_key_alg(&auth.tok, i), i == 0 ? " signing=1" : "");
	return 0;
}

void auth_keys_check(void)
{
	const char *dir = conf_str(CONF_JWT_KEY_DIR);
	char paths[KEYRING_MAX * 1100], err[512];
	double now = clock_mono();
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
	if (key_paths(paths, sizeof(paths), err, sizeof(err)) != 0 ||
	    load(&fresh, paths, err, sizeof(err)) != 0) {
		/* the keys in use stay; tried again in a second */
		log_error("event=keys_reload_failed err=\"%s\"", err);
		ring.next_change = 0;
		ring.mtime.tv_sec = 0;
		return;
	}
	if (auth_wellknown_rebuild(&fresh) != 0) {
		log_error("event=keys_reload_failed err=\"out of memory\"");
		token_ctx_release(&fresh);
		return;
	}
	token_ctx_release(&auth.tok);
	auth.tok = fresh;
	log_info("event=keys_changed signing=%s keys=%zu", token_key_kid(&auth.tok, 0),
		 auth.tok.nkeys);
}
