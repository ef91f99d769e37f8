/* migrate: apply sql/<db>/NNN_name.sql files in order, once each. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conf.h"
#include "db.h"
#include "magentactl.h"

/* Any number; only migrators take this lock. */
#define MIGRATE_LOCK "725366"

/* 1 for names of the form NNN_something.sql. */
static int is_migration(const struct dirent *d)
{
	const char *n = d->d_name;
	size_t len = strlen(n);

	return len > 8 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' &&
	       n[2] <= '9' && n[3] == '_' && strcmp(n + len - 4, ".sql") == 0;
}

/* Read a whole file; NULL on failure.  Caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* Run a command that returns no rows; 0 or -1 with a message. */
static int run(PGconn *c, const char *sql, int n, const char *const *p, const char *what)
{
	/* the simple protocol (PQexec) runs a file of several statements */
	PGresult *res = n ? PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0) : PQexec(c, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "magentactl: %s: %s", what, PQerrorMessage(c));
	PQclear(res);
	return ok ? 0 : -1;
}

/* CREATE DATABASE name unless it exists, through the postgres database. */
static int create_database(const char *name)
{
	struct db admin;
	PGconn *c;
	PGresult *res;
	char *ident = NULL;
	int rc = -1;

	db_init(&admin, "postgres", "magentactl");
	c = db_conn(&admin);
	if (!c) {
		fprintf(stderr, "magentactl: cannot connect to database 'postgres'\n");
		return -1;
	}
	{
		const char *p[] = { name };
		res = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, p, NULL,
				   NULL, 0);
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		rc = 0;
		goto out;
	}
	/* An identifier cannot be a parameter: quote it with libpq. */
	ident = PQescapeIdentifier(c, name, strlen(name));
	if (ident) {
		char sql[600];
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0",
			 ident);
		if (run(c, sql, 0, NULL, "create database") == 0) {
			printf("created database %s\n", name);
			rc = 0;
		}
	}
out:
	PQfreemem(ident);
	PQclear(res);
	db_close(&admin);
	return rc;
}

/* Apply the pending migrations of one database. */
static int migrate_one(const char *dbname, const char *sub, int create)
{
	char dir[1024], path[1300];
	struct dirent **list = NULL;
	struct db db;
	PGconn *c;
	int n = 0, rc = -1, applied = 0;

	if (create && create_database(dbname) != 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/%s", conf_str(CONF_MIGRATIONS_DIR), sub);
	db_init(&db, dbname, "magentactl");
	c = db_conn(&db);
	if (!c) {
		fprintf(stderr, "magentactl: cannot connect to database '%s'\n", dbname);
		return -1;
	}
	if (run(c, "SET client_min_messages = warning", 0, NULL, "set") != 0 ||
	    run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL, "lock") != 0 ||
	    run(c,
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		0, NULL, "create schema_migrations") != 0)
		goto out;
	n = scandir(dir, &list, is_migration, alphasort);
	if (n < 0) {
		if (errno == ENOENT) { /* nothing to apply for this database yet */
			n = 0;
		} else {
			fprintf(stderr, "magentactl: cannot read '%s': %s\n", dir, strerror(errno));
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		const char *p[] = { name };
		PGresult *res = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
					     1, NULL, p, NULL, NULL, 0);
		int done = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		char *sql;

		PQclear(res);
		if (done)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		sql = slurp(path);
		if (!sql) {
			fprintf(stderr, "magentactl: cannot read '%s': %s\n", path, strerror(errno));
			goto out;
		}
		/* the file's SQL is ours, not input: it runs as written */
		if (run(c, "BEGIN", 0, NULL, "begin") != 0 || run(c, sql, 0, NULL, path) != 0 ||
		    run(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, p, "record") != 0 ||
		    run(c, "COMMIT", 0, NULL, "commit") != 0) {
			free(sql);
			goto out;
		}
		free(sql);
		printf("applied %s/%s to %s\n", sub, name, dbname);
		applied++;
	}
	if (!applied)
		printf("%s: up to date\n", dbname);
	rc = 0;
out:
	if (list) {
		for (int i = 0; i < n; i++)
			free(list[i]);
		free(list);
	}
	db_close(&db);
	return rc;
}

/* migrate [--create] [users|auth|all] */
int cmd_migrate(int argc, char **argv)
{
	const char *which = "all";
	int create = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--create") == 0)
			create = 1;
		else if (strcmp(argv[i], "users") == 0 || strcmp(argv[i], "auth") == 0 ||
			 strcmp(argv[i], "all") == 0)
			which = argv[i];
		else {
			fprintf(stderr, "magentactl: migrate: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (strcmp(which, "auth") != 0 && migrate_one(conf_str(CONF_USERS_DB), "users", create) != 0)
		return 1;
	if (strcmp(which, "users") != 0 && migrate_one(conf_str(CONF_AUTH_DB), "auth", create) != 0)
		return 1;
	return 0;
}
