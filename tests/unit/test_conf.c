/* Unit tests: the typed configuration table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Write len bytes (NULs included) to a new temporary file. */
static int write_tmp_bytes(char *path, const char *bytes, size_t len)
{
	int fd = mkstemp(path);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, bytes, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

/* Lines the reader must not split or cut short: a NUL byte (fgets gave no
 * length, so what followed it on its line was dropped unseen, and a line
 * longer than the buffer whose first NUL came early was read on as a new
 * line: one line set two keys), and the longest line. */
static void test_file_bytes(void)
{
	static char buf[8192];
	char path[] = "/tmp/magenta-conf-XXXXXX", err[512];
	const char smuggled[] = "users_db = Smuggled\n";
	size_t n;

	/* a NUL byte is refused, naming its line */
	conf_defaults();
	if (write_tmp_bytes(path, "pg_port = 6543\nusers_db = A\0B\n", 30) != 0)
		exit(99);
	CHECK(conf_load_file(path, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":2: NUL byte") != NULL);
	unlink(path);

	/* what lay past a NUL beyond the line buffer is not a line of its own */
	conf_defaults();
	n = (size_t)snprintf(buf, sizeof(buf), "pg_port = 6543");
	buf[n++] = '\0';
	memset(buf + n, 'x', 4095 - n);
	memcpy(buf + 4095, smuggled, sizeof(smuggled) - 1);
	n = 4095 + sizeof(smuggled) - 1;
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	if (write_tmp_bytes(path, buf, n) != 0)
		exit(99);
	CHECK(conf_load_file(path, err, sizeof(err)) == -1);
	CHECK(strcmp(conf_str(CONF_USERS_DB), "MagentaUsers") == 0);
	unlink(path);

	/* the longest line still fits (4094 bytes and its newline), one more
	 * does not, with or without the newline */
	for (size_t extra = 0; extra < 2; extra++)
		for (int nl = 0; nl < 2; nl++) {
			conf_defaults();
			n = (size_t)snprintf(buf, sizeof(buf), "users_db = ");
			memset(buf + n, 'd', 4094 + extra - n);
			n = 4094 + extra;
			if (nl)
				buf[n++] = '\n';
			memcpy(path + strlen(path) - 6, "XXXXXX", 6);
			if (write_tmp_bytes(path, buf, n) != 0)
				exit(99);
			CHECK(conf_load_file(path, err, sizeof(err)) == (extra ? -1 : 0));
			if (extra)
				CHECK(strstr(err, ":1: line too long") != NULL);
			else
				CHECK(strlen(conf_str(CONF_USERS_DB)) ==
				      4094 - strlen("users_db = "));
			unlink(path);
		}
}

/* The text f(out, programs) writes, in a static buffer. */
static const char *printed(void (*f)(FILE *, unsigned), unsigned programs)
{
	static char buf[65536];
	FILE *out = fmemopen(buf, sizeof(buf), "w");

	if (!out)
		return "";
	f(out, programs);
	fclose(out);
	buf[sizeof(buf) - 1] = '\0';
	return buf;
}

/* Does key name appear as a key line of --help text? */
static int help_lists(const char *help, const char *name)
{
	char line[64];

	snprintf(line, sizeof(line), "\n  %s ", name);
	return strstr(help, line) != NULL;
}

/* Does the sample carry key name's commented default line? */
static int sample_lists(const char *sample, const char *name)
{
	char line[64];

	snprintf(line, sizeof(line), "\n#%s = ", name);
	return strstr(sample, line) != NULL;
}

/* 1 when reading key id after loading as programs aborts the process. */
static int read_aborts(unsigned programs, enum conf_id id)
{
	char err[512];
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (conf_load("/dev/null", programs, err, sizeof(err)) != 0)
			_exit(3);
		fclose(stderr); /* the abort's message is expected */
		(void)conf_str(id);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* Each program validates and uses its own keys only. */
static void test_programs(void)
{
	char own[] = "/tmp/magenta-conf-XXXXXX", other[] = "/tmp/magenta-conf-XXXXXX";
	char none[] = "/tmp/magenta-conf-XXXXXX", port[] = "/tmp/magenta-conf-XXXXXX", err[512];

	/* registration refuses a bad value of its own key, naming line and key */
	if (write_tmp(own, "users_db = U\npassword_min = 3\n") != 0)
		exit(99);
	CHECK(conf_load(own, CONF_FOR_REGISTRATION, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":2: key 'password_min'") != NULL);

	/* ... ignores bad values of the daemons' keys (one shared file) ... */
	if (write_tmp(other, "amqp_port = none\nqueue_type = stream\npassword_min = 14\n") != 0)
		exit(99);
	CHECK(conf_load(other, CONF_FOR_REGISTRATION, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_PASSWORD_MIN) == 14);
	CHECK(!conf_reads(CONF_AMQP_PORT));
	CHECK(conf_programs() == CONF_FOR_REGISTRATION);
	CHECK(conf_reads(CONF_PASSWORD_MIN));
	setenv("MAGENTA_AMQP_HEARTBEAT", "-1", 1);
	CHECK(conf_load(other, CONF_FOR_REGISTRATION, err, sizeof(err)) == 0);
	/* ... which the relay and the consumer refuse */
	CHECK(conf_load(other, CONF_FOR_RELAY, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":1: key 'amqp_port'") != NULL);
	CHECK(conf_load(other, CONF_FOR_CONSUMER, err, sizeof(err)) == -1);
	if (write_tmp(port, "amqp_port = 5671\n") != 0)
		exit(99);
	CHECK(conf_load(port, CONF_FOR_RELAY, err, sizeof(err)) == -1);
	CHECK(strstr(err, "MAGENTA_AMQP_HEARTBEAT") != NULL);
	unsetenv("MAGENTA_AMQP_HEARTBEAT");
	CHECK(conf_load(port, CONF_FOR_RELAY, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_AMQP_PORT) == 5671);

	/* a key of no program stays an error for every program */
	if (write_tmp(none, "users_db = U\namqp_prot = 5672\n") != 0)
		exit(99);
	CHECK(conf_load(none, CONF_FOR_REGISTRATION, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":2: unknown key 'amqp_prot'") != NULL);
	CHECK(conf_load(none, CONF_FOR_RELAY, err, sizeof(err)) == -1);

	/* reading a key the table does not give the program is caught */
	CHECK(read_aborts(CONF_FOR_REGISTRATION, CONF_AMQP_HOST));
	CHECK(!read_aborts(CONF_FOR_RELAY, CONF_AMQP_HOST));

	unlink(own);
	unlink(other);
	unlink(none);
	unlink(port);
}

/* Enum values are checked against the table's choices. */
static void test_choices(void)
{
	char err[512];

	conf_defaults();
	CHECK(conf_set("queue_type", "stream", err, sizeof(err)) == -1);
	CHECK(strstr(err, "is not one of quorum|classic") != NULL);
	CHECK(conf_set("queue_type", "quorum|classic", err, sizeof(err)) == -1);
	CHECK(conf_set("queue_type", "quor", err, sizeof(err)) == -1);
	CHECK(conf_set("queue_type", "", err, sizeof(err)) == -1);
	CHECK(conf_set("queue_type", "classic", err, sizeof(err)) == 0);
	CHECK(strcmp(conf_str(CONF_QUEUE_TYPE), "classic") == 0);
	CHECK(conf_set("jwt_alg", "HS256", err, sizeof(err)) == -1);
	CHECK(conf_set("jwt_alg", "RS256", err, sizeof(err)) == 0);
	CHECK(conf_set("log_level", "error", err, sizeof(err)) == 0);
	CHECK(conf_set("pg_sslmode", "verify-full", err, sizeof(err)) == 0);
	CHECK(conf_set("pg_sslmode", "verify", err, sizeof(err)) == -1);
	conf_defaults();
	CHECK(conf_programs() == CONF_FOR_ALL);
}

/* --help and --sample-config list a program's own keys only. */
static void test_listing(void)
{
	const char *h = printed(conf_print_help, CONF_FOR_REGISTRATION);
	int n = 0;

	CHECK(help_lists(h, "password_min"));
	CHECK(help_lists(h, "pg_host"));
	CHECK(help_lists(h, "jwt_public_keys"));
	CHECK(!help_lists(h, "amqp_host"));
	CHECK(!help_lists(h, "relay_batch"));
	CHECK(!help_lists(h, "jwt_keys"));
	CHECK(!help_lists(h, "migrations_dir"));
	CHECK(strstr(h, "disable|allow|prefer|require|verify-ca|verify-full") != NULL);

	h = printed(conf_print_help, CONF_FOR_RELAY);
	CHECK(help_lists(h, "amqp_host"));
	CHECK(help_lists(h, "relay_batch"));
	CHECK(!help_lists(h, "password_min"));
	CHECK(!help_lists(h, "queue_type"));

	h = printed(conf_print_sample, CONF_FOR_CONSUMER);
	CHECK(sample_lists(h, "queue_type"));
	CHECK(strstr(h, "choice quorum|classic") != NULL);
	CHECK(!sample_lists(h, "relay_batch"));
	CHECK(!sample_lists(h, "jwt_keys"));

	/* magentactl's sample (the installed one) has every key and its readers */
	h = printed(conf_print_sample, CONF_FOR_ALL);
	for (const char *p = h; (p = strstr(p, "\n#")) != NULL; p++)
		if (strchr(p + 2, '\n') > strstr(p + 2, " = "))
			n++;
	CHECK(n == CONF__COUNT);
	CHECK(strstr(h, "\n# read by magenta-relay, magentactl\n#event_signing_key = ") != NULL);
	CHECK(strstr(h, "\n# read by every program\n#pg_host = ") != NULL);
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
	CHECK(conf_load(p1, CONF_FOR_ALL, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_PG_PORT) == 7654);
	CHECK(strcmp(conf_str(CONF_USERS_DB), "Other") == 0);
	CHECK(strcmp(conf_path(), p1) == 0);
	CHECK(!conf_is_default(CONF_USERS_DB));

	/* a bad environment value is an error naming the variable */
	setenv("MAGENTA_PG_PORT", "0", 1);
	CHECK(conf_load(p1, CONF_FOR_ALL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "MAGENTA_PG_PORT") != NULL);
	unsetenv("MAGENTA_PG_PORT");

	/* unknown key: error with file and line number */
	if (write_tmp(p2, "pg_port = 1\n\nbogus = 2\n") != 0)
		return 99;
	CHECK(conf_load(p2, CONF_FOR_ALL, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":3: unknown key 'bogus'") != NULL);

	/* a line without '=' */
	if (write_tmp(p3, "pg_port\n") != 0)
		return 99;
	CHECK(conf_load(p3, CONF_FOR_ALL, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":1: expected key = value") != NULL);

	/* a missing explicit file is an error */
	CHECK(conf_load("/nonexistent/magenta.conf", CONF_FOR_ALL, err, sizeof(err)) == -1);

	/* MAGENTA_CONFIG names the file when no path is given */
	setenv("MAGENTA_CONFIG", p1, 1);
	CHECK(conf_load(NULL, CONF_FOR_ALL, err, sizeof(err)) == 0);
	CHECK(conf_int(CONF_PG_PORT) == 6543);
	unsetenv("MAGENTA_CONFIG");

	unlink(p1);
	unlink(p2);
	unlink(p3);
	test_programs();
	test_choices();
	test_listing();
	test_file_bytes();
	return t_done();
}
