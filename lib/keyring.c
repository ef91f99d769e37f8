/* keyring: key directories and the states of their keys. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyring.h"

void keyring_name(long long t, char out[KEYRING_NAME_LEN + 1])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, KEYRING_NAME_LEN + 1, "key-%Y%m%dT%H%M%SZ.pem", &tm);
}

long long keyring_name_time(const char *name)
{
	struct tm tm;
	char again[KEYRING_NAME_LEN + 1];
	long long t;
	int used = 0;

	if (strlen(name) != KEYRING_NAME_LEN || strncmp(name, "key-", 4) != 0 ||
	    strspn(name + 4, "0123456789") != 8 || strspn(name + 13, "0123456789") != 6)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(name + 4, "%4d%2d%2dT%2d%2d%2dZ.pem%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != KEYRING_NAME_LEN - 4)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = (long long)timegm(&tm);
	/* only the one spelling of that time: no 20261307, no 23:61 */
	keyring_name(t, again);
	return strcmp(again, name) == 0 ? t : -1;
}

static int by_start_desc(const void *a, const void *b)
{
	const struct keyring_key *x = a, *y = b;

	return (x->starts < y->starts) - (x->starts > y->starts);
}

/* Note t as a change to come after now. */
static void note_change(struct keyring *k, long long t, long long now)
{
	if (t > now && (k->next_change == 0 || t < k->next_change))
		k->next_change = t;
}

int keyring_scan(const char *dir, long long now, long long overlap, struct keyring *out,
		 char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int signing = -1;

	memset(out, 0, sizeof(*out));
	if (strchr(dir, ':')) {
		if (d)
			closedir(d);
		snprintf(err, errlen, "key directory '%s': a ':' in the path is not allowed", dir);
		return -1;
	}
	if (!d) {
		snprintf(err, errlen, "cannot read key directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		long long t = keyring_name_time(e->d_name);
		struct keyring_key *k;

		if (t < 0)
			continue; /* not a key: README, a half-written .tmp, ... */
		if (out->n == KEYRING_MAX) {
			closedir(d);
			snprintf(err, errlen, "key directory '%s' holds more than %d keys: "
					      "magentactl key prune", dir, KEYRING_MAX);
			return -1;
		}
		k = &out->keys[out->n++];
		if ((size_t)snprintf(k->path, sizeof(k->path), "%s/%s", dir, e->d_name) >=
		    sizeof(k->path)) {
			closedir(d);
			snprintf(err, errlen, "key directory path too long");
			return -1;
		}
		k->starts = t;
	}
	closedir(d);
	qsort(out->keys, out->n, sizeof(out->keys[0]), by_start_desc);
	for (size_t i = 0; i < out->n; i++) {
		struct keyring_key *k = &out->keys[i];

		if (k->starts > now) {
			k->state = KEY_STANDBY;
			note_change(out, k->starts, now);
		} else if (signing < 0) {
			k->state = KEY_SIGNING;
			signing = (int)i;
		} else {
			/* replaced when the key before it (newer) started */
			k->ends = out->keys[i - 1].starts + overlap;
			k->state = k->ends > now ? KEY_RETIRED : KEY_EXPIRED;
			note_change(out, k->ends, now);
		}
	}
	if (signing < 0) {
		snprintf(err, errlen, "key directory '%s' has no key that has started signing%s", dir,
			 out->n ? "" : " (none at all: magentactl key rotate)");
		return -1;
	}
	return 0;
}

size_t keyring_in_use(const struct keyring *k, const struct keyring_key *in_use[KEYRING_MAX])
{
	size_t n = 0;

	/* signing first: token_ctx_init signs with the first */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < k->n; i++) {
			const struct keyring_key *e = &k->keys[i];

			if ((pass == 0) != (e->state == KEY_SIGNING) || e->state == KEY_EXPIRED)
				continue;
			in_use[n++] = e;
		}
	return n;
}

long long keyring_sign_until(const struct keyring *k)
{
	long long t = 0;

	for (size_t i = 0; i < k->n; i++)
		if (k->keys[i].state == KEY_STANDBY && (t == 0 || k->keys[i].starts < t))
			t = k->keys[i].starts;
	return t;
}

int keyring_paths(const struct keyring *k, char *out, size_t cap)
{
	const struct keyring_key *use[KEYRING_MAX];
	size_t n = keyring_in_use(k, use), o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + o, cap - o, "%s%s", o ? ":" : "", use[i]->path);

		if (w < 0 || (size_t)w >= cap - o)
			return -1;
		o += (size_t)w;
	}
	return 0;
}

int keyring_current(const char *dir, long long now, long long overlap, char *out, size_t cap,
		    long long *next_change, char *err, size_t errlen)
{
	struct keyring k;

	if (keyring_scan(dir, now, overlap, &k, err, errlen) != 0)
		return -1;
	if (keyring_paths(&k, out, cap) != 0) {
		snprintf(err, errlen, "key directory '%s': paths too long", dir);
		return -1;
	}
	*next_change = k.next_change;
	return 0;
}

const char *keyring_state_name(enum keyring_state s)
{
	switch (s) {
	case KEY_STANDBY: return "standby";
	case KEY_SIGNING: return "signing";
	case KEY_RETIRED: return "retired";
	case KEY_EXPIRED: return "expired";
	}
	return "?";
}
