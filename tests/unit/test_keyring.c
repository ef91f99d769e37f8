/* Unit tests: key directories and the states of their keys (lib/keyring.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring.h"
#include "t.h"

static char dir[] = "/tmp/test_keyring.XXXXXX";

static void touch(const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

int main(void)
{
	char name[KEYRING_NAME_LEN + 1], paths[4096], err[256], cmd[128];
	struct keyring k;
	long long t0 = 1796644800; /* 2026-12-07T12:00:00Z */
	long long next;

	keyring_name(t0, name);
	CHECK(strcmp(name, "key-20261207T120000Z.pem") == 0);
	CHECK(keyring_name_time(name) == t0);
	CHECK(keyring_name_time("key-20261207T120000Z.pem.tmp") == -1);
	CHECK(keyring_name_time("key-20261307T120000Z.pem") == -1); /* month 13 */
	CHECK(keyring_name_time("key-20261207T126000Z.pem") == -1);
	CHECK(keyring_name_time("key-2026127T1200000Z.pem") == -1);
	CHECK(keyring_name_time("kex-20261207T120000Z.pem") == -1);
	CHECK(keyring_name_time("README") == -1);

	if (!mkdtemp(dir))
		return 99;
	/* empty: nothing signs */
	CHECK(keyring_scan(dir, t0, 900, &k, err, sizeof(err)) == -1 && strstr(err, "rotate"));
	/* one key, in the future: standby only, still nothing signs */
	keyring_name(t0 + 600, name);
	touch(name);
	CHECK(keyring_scan(dir, t0, 900, &k, err, sizeof(err)) == -1 && k.n == 1 &&
	      k.keys[0].state == KEY_STANDBY);
	/* an old key signs; the new one waits; other files are no keys */
	keyring_name(t0 - 86400, name);
	touch(name);
	touch("README");
	touch("key-20261207T120000Z.pem.tmp.abcdef");
	CHECK(keyring_scan(dir, t0, 900, &k, err, sizeof(err)) == 0 && k.n == 2);
	CHECK(k.keys[0].state == KEY_STANDBY && k.keys[0].starts == t0 + 600);
	CHECK(k.keys[1].state == KEY_SIGNING && k.keys[1].starts == t0 - 86400);
	CHECK(k.next_change == t0 + 600);
	CHECK(keyring_paths(&k, paths, sizeof(paths)) == 0);
	{
		char want[512];
		snprintf(want, sizeof(want), "%s/key-20261206T120000Z.pem:%s/key-20261207T121000Z.pem",
			 dir, dir);
		CHECK(strcmp(paths, want) == 0); /* signing first */
	}
	/* at its start the new one signs, the old one is retired for the overlap */
	CHECK(keyring_scan(dir, t0 + 600, 900, &k, err, sizeof(err)) == 0);
	CHECK(k.keys[0].state == KEY_SIGNING && k.keys[1].state == KEY_RETIRED &&
	      k.keys[1].ends == t0 + 600 + 900 && k.next_change == t0 + 1500);
	/* then it has expired: not in the paths */
	CHECK(keyring_current(dir, t0 + 1500, 900, paths, sizeof(paths), &next, err,
			      sizeof(err)) == 0);
	CHECK(strchr(paths, ':') == NULL && strstr(paths, "key-20261207T121000Z.pem") && next == 0);
	CHECK(keyring_scan(dir, t0 + 1500, 900, &k, err, sizeof(err)) == 0 &&
	      k.keys[1].state == KEY_EXPIRED);
	/* too small a buffer */
	CHECK(keyring_paths(&k, paths, 10) == -1);
	/* a ':' in the directory cannot be listed */
	CHECK(keyring_scan("/tmp/a:b", t0, 900, &k, err, sizeof(err)) == -1 && strstr(err, "':'"));
	CHECK(keyring_scan("/nonexistent/keys", t0, 900, &k, err, sizeof(err)) == -1);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 99;
	return t_done();
}
