/* Unit tests: the typed configuration table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"

/* Write text to a new temporary file; path receives its name. */
static int write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return 0;
}

int main(void)
{
	char p1[] = "/tmp/magenta-conf-XXXXXX", p2[] = "/tmp/magenta-conf-XXXXXX";
	char p3[] = "/tmp/magenta-conf-XXXXXX", err[512];

	unsetenv("MAGENTA_CONFIG");
	unsetenv("MAGENTA_PG_PORT");
	conf_defaults();
	CHECK(strcmp(conf_str(CONF_USERS_DB), "MagentaUsers") == 0);
	CHECK(strcmp(conf_str(CONF_AUTH_DB), "MagentaAuthentication") == 0);
	CHECK(conf_int(CONF_BODY_LIMIT) == 16384);
	CHECK(conf_int(CONF_PASSWORD_MIN) == 12);
	CHECK(conf_int(CONF_ARGON2_MEMLIMIT_KIB) == 19456);
	CHECK(conf_is_default(CONF_PG_PORT));

	/* typed validation names the key */
	CHECK(conf_set("pg_port", "99999", err, sizeof(err)) == -1);
	CHECK(strstr(err, "'pg_port'") != NULL);
	CHECK(conf_set("pg_port", "54x", err, sizeof(err)) == -1);
	CHECK(conf_set("queue_type", "stream", err, sizeof(err)) == -1);
	CHECK(strstr(err, "quorum|classic") != NULL);
	CHECK(conf_set("queue_type", "classic", err, sizeof(err)) == 0);
	CHECK(conf_set("no_such_key", "1", err, sizeof(err)) == -1);
	CHECK(strstr(err, "unknown key 'no_such_key'") != NULL);

	/* file: comments, spaces, then the environment wins */
	if (write_tmp(p1, "# comment\n\n  pg_port = 6543 \nusers_db=Other\n") != 0)
		return 99;
	setenv("MAGENTA_PG_PORT", "7654", 1);
	CHECK(conf_load(p1, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_PG_PORT) == 7654);
	CHECK(strcmp(conf_str(CONF_USERS_DB), "Other") == 0);
	CHECK(strcmp(conf_path(), p1) == 0);
	CHECK(!conf_is_default(CONF_USERS_DB));

	/* a bad environment value is an error naming the variable */
	setenv("MAGENTA_PG_PORT", "0", 1);
	CHECK(conf_load(p1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "MAGENTA_PG_PORT") != NULL);
	unsetenv("MAGENTA_PG_PORT");

	/* unknown key: error with file and line number */
	if (write_tmp(p2, "pg_port = 1\n\nbogus = 2\n") != 0)
		return 99;
	CHECK(conf_load(p2, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":3: unknown key 'bogus'") != NULL);

	/* a line without '=' */
	if (write_tmp(p3, "pg_port\n") != 0)
		return 99;
	CHECK(conf_load(p3, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":1: expected key = value") != NULL);

	/* a missing explicit file is an error */
	CHECK(conf_load("/nonexistent/magenta.conf", err, sizeof(err)) == -1);

	/* MAGENTA_CONFIG names the file when no path is given */
	setenv("MAGENTA_CONFIG", p1, 1);
	CHECK(conf_load(NULL, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_PG_PORT) == 6543);
	unsetenv("MAGENTA_CONFIG");

	unlink(p1);
	unlink(p2);
	unlink(p3);
	return t_done();
}
