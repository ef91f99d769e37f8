/* keyring: the access token signing keys of a key directory (jwt_key_dir),
 * and their rotation in three states (docs/oauth2.md "Key rotation").
 *
 * Each key is a private PEM file named key-YYYYMMDDTHHMMSSZ.pem: the UTC
 * time it starts signing.  At a given time, a directory's keys are:
 *   standby  starting later: published in the JWKS, so that verifiers'
 *            caches have it before any token is signed with it;
 *   signing  the newest that has started;
 *   retired  older: still published and accepted until the longest token
 *            it can have signed has expired (the start of the key after it
 *            plus the overlap, the access token lifetime and leeway), then
 *            gone: neither published nor accepted.
 * So every state change happens at a time the file names decide, in every
 * process alike, without a reload. */
#ifndef MAGENTA_KEYRING_H
#define MAGENTA_KEYRING_H

#include <stddef.h>

#define KEYRING_MAX 16
#define KEYRING_NAME_LEN 24 /* key-20261207T120000Z.pem */

enum keyring_state { KEY_STANDBY, KEY_SIGNING, KEY_RETIRED, KEY_EXPIRED };

struct keyring_key {
	char path[1024];
	long long starts;  /* when it signs (epoch seconds) */
	long long ends;    /* retired: when it leaves (0: not retired) */
	enum keyring_state state;
};

struct keyring {
	struct keyring_key keys[KEYRING_MAX]; /* by start, newest first */
	size_t n;
	long long next_change; /* the next time a state changes (0: none) */
};

/* The name of a key starting at t into out. */
void keyring_name(long long t, char out[KEYRING_NAME_LEN + 1]);

/* The start time a key file name gives, or -1 when it is not one. */
long long keyring_name_time(const char *name);

/* Read dir's key files and their states at now, with overlap seconds of
 * retirement.  0, or -1 with err: the directory cannot be read, holds more
 * than KEYRING_MAX keys, or has no key that has started. */
int keyring_scan(const char *dir, long long now, long long overlap, struct keyring *out,
		 char *err, size_t errlen);

/* The keys in use, in the order keyring_paths lists them, into in_use;
 * their number. */
size_t keyring_in_use(const struct keyring *k, const struct keyring_key *in_use[KEYRING_MAX]);

/* The start of the key that takes over from the signing one (the earliest
 * standby key's), or 0 when none waits. */
long long keyring_sign_until(const struct keyring *k);

/* The ':'-separated paths of the keys in use (signing first, then standby
 * and retired; not expired ones) into out, for token_ctx_init.  0, or -1
 * when they do not fit. */
int keyring_paths(const struct keyring *k, char *out, size_t cap);

/* keyring_scan and keyring_paths in one: the paths in use at now into
 * out, and the next change's time (0: none) into *next_change. */
int keyring_current(const char *dir, long long now, long long overlap, char *out, size_t cap,
		    long long *next_change, char *err, size_t errlen);

/* A state's name. */
const char *keyring_state_name(enum keyring_state s);

#endif
