/* key: rotation of the access token signing keys in jwt_key_dir
 * (keyring.h, docs/oauth2.md "Key rotation").
 *
 *   key rotate [--delay SECONDS]
 *       a new key, published at once (standby) and signing after the
 *       delay (default: twice jwks_max_age, so that every cached JWKS has
 *       it by then; 0 for the directory's first key)
 *   key list [--json]    each key's state and times
 *   key prune            remove the keys that have expired
 *
 * After rotate and prune, jwt_public_keys (the registration service's
 * verification keys) is written again with the keys in use.  magenta-auth
 * reads the directory itself (when it changes, and when a state does).
 * New keys are of jwt_alg: to move to another algorithm, change jwt_alg,
 * then rotate. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf.h"
#include "keyring.h"
#include "magentactl.h"
#include "token.h"
#include "token_key.h"

/* The longest a token signed by a key can outlive its replacement. */
static long long overlap(void)
{
	return conf_int(CONF_ACCESS_TTL) + conf_int(CONF_JWT_LEEWAY);
}

const char *ctl_jwt_sign_alg(void)
{
	/* a key ring may be half-way from one algorithm to another */
	return *conf_str(CONF_JWT_KEY_DIR) ? NULL : conf_str(CONF_JWT_ALG);
}

int ctl_jwt_key_paths(char *out, size_t cap, char *err, size_t errlen)
{
	const char *dir = conf_str(CONF_JWT_KEY_DIR);
	long long next;

	if (!*dir) {
		if ((size_t)snprintf(out, cap, "%s", conf_str(CONF_JWT_KEYS)) >= cap) {
			snprintf(err, errlen, "jwt_keys too long");
			return -1;
		}
		return 0;
	}
	return keyring_current(dir, (long long)time(NULL), overlap(), out, cap, &next, err, errlen);
}

/* Write jwt_public_keys again with the keys in use; 0 or -1. */
static int write_public(void)
{
	const char *out = conf_str(CONF_JWT_PUBLIC_KEYS);
	char err[512], paths[KEYRING_MAX * 1100];
	struct token_ctx t;
	int rc;

	if (!*out || strchr(out, ':'))
		return 0; /* PEM files, or none: the operator's to keep */
	if (ctl_jwt_key_paths(paths, sizeof(paths), err, sizeof(err)) != 0 ||
	    token_ctx_init(&t, paths, ctl_jwt_sign_alg(), "-", "-", 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: key: %s\n", err);
		return -1;
	}
	rc = ctl_write_atomic(out, 0644, 1, ctl_write_text, token_jwks(&t));
	if (rc == 0)
		printf("wrote the public keys in use to %s (%zu)\n", out, t.nkeys);
	token_ctx_release(&t);
	return rc;
}

static int rotate(const char *dir, const char *alg, long long delay, int delay_given)
{
	struct keyring k;
	char err[512], name[KEYRING_NAME_LEN + 1], path[PATH_MAX], when[32];
	long long now = (long long)time(NULL), starts;
	time_t tt;
	struct tm tm;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "magentactl: key rotate: cannot create '%s': %s\n", dir,
			strerror(errno));
		return 1;
	}
	if (keyring_scan(dir, now, overlap(), &k, err, sizeof(err)) != 0) {
		if (k.n >= KEYRING_MAX) {
			fprintf(stderr, "magentactl: key rotate: %s\n", err);
			return 1;
		}
		/* no key signing yet: the first starts now, unless told */
		if (!delay_given)
			delay = 0;
	}
	for (size_t i = 0; i < k.n; i++)
		if (k.keys[i].state == KEY_STANDBY) {
			fprintf(stderr,
				"magentactl: key rotate: %s is waiting to sign already; one "
				"rotation at a time\n",
				k.keys[i].path);
			return 1;
		}
	starts = now + delay;
	keyring_name(starts, name);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		fprintf(stderr, "magentactl: key rotate: path too long\n");
		return 1;
	}
	if (ctl_write_atomic(path, 0600, 0, ctl_write_private, alg) != 0)
		return 1;
	tt = (time_t)starts;
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("new %s key %s: published now, signs from %s (in %lld s)\n", alg, path, when, delay);
	if (k.n > 0)
		printf("the key it replaces stays published until %lld s after that\n", overlap());
	return write_public() == 0 ? 0 : 1;
}

static int list(const char *dir, int json)
{
	struct keyring k;
	char err[512];
	struct json_object *a = json ? json_object_new_array() : NULL;
	long long now = (long long)time(NULL);

	if (keyring_scan(dir, now, overlap(), &k, err, sizeof(err)) != 0 && k.n == 0) {
		fprintf(stderr, "magentactl: key list: %s\n", err);
		json_object_put(a);
		return 1;
	}
	for (size_t i = 0; i < k.n; i++) {
		const struct keyring_key *e = &k.keys[i];

		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "file", json_object_new_string(e->path));
			json_object_object_add(o, "state",
					       json_object_new_string(keyring_state_name(e->state)));
			json_object_object_add(o, "starts", json_object_new_int64(e->starts));
			json_object_object_add(o, "ends",
					       e->ends ? json_object_new_int64(e->ends) : NULL);
			json_object_array_add(a, o);
		} else {
			printf("%-8s %s  starts %+lld s", keyring_state_name(e->state), e->path,
			       e->starts - now);
			if (e->ends)
				printf("  leaves %+lld s", e->ends - now);
			printf("\n");
		}
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return 0;
}

static int prune(const char *dir)
{
	struct keyring k;
	char err[512];
	int removed = 0;

	if (keyring_scan(dir, (long long)time(NULL), overlap(), &k, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: key prune: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < k.n; i++)
		if (k.keys[i].state == KEY_EXPIRED) {
			if (unlink(k.keys[i].path) != 0) {
				fprintf(stderr, "magentactl: key prune: cannot remove '%s': %s\n",
					k.keys[i].path, strerror(errno));
				return 1;
			}
			printf("removed %s\n", k.keys[i].path);
			removed++;
		}
	if (!removed)
		printf("no key has expired\n");
	return write_public() == 0 ? 0 : 1;
}

int cmd_key(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "", *dir = conf_str(CONF_JWT_KEY_DIR);
	const char *alg = conf_str(CONF_JWT_ALG);
	long long delay = 2LL * conf_int(CONF_JWKS_MAX_AGE);
	int json = 0, delay_given = 0;

	if (strcmp(sub, "rotate") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "prune") != 0) {
		fprintf(stderr, "magentactl: key: expected rotate, list or prune\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		char *end;

		if (strcmp(sub, "rotate") == 0 && strcmp(argv[i], "--delay") == 0 && i + 1 < argc) {
			errno = 0;
			delay = strtoll(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || delay < 0 || delay > 30 * 86400) {
				fprintf(stderr, "magentactl: key rotate: --delay wants 0 to 2592000 "
						"seconds\n");
				return 2;
			}
			delay_given = 1;
		} else if (strcmp(sub, "list") == 0 && strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "magentactl: key %s: unknown argument '%s'\n", sub, argv[i]);
			return 2;
		}
	}
	if (!*dir) {
		fprintf(stderr, "magentactl: key: set jwt_key_dir (a directory for the rotated "
				"signing keys) first\n");
		return 2;
	}
	if (strcmp(sub, "rotate") == 0)
		return rotate(dir, alg, delay, delay_given);
	if (strcmp(sub, "list") == 0)
		return list(dir, json);
	return prune(dir);
}
