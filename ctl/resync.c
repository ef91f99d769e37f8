/* resync: bring MagentaAuthentication in line with MagentaUsers, the owner
 * of identities (docs/events.md "Tools").
 *
 * resync [--since TIMESTAMP] [--batch N] [--dry-run] writes the events
 * that rebuild the auth database, for example after it was lost: for
 * every user (in id order, N a transaction) a UserUpdated of its current
 * state at its current version, then for every tombstone of
 * deleted_users its UserDeleted at the tombstone's version.  No row of
 * users changes; the consumer's version guard makes the events harmless
 * where they are known already (same_version).  A user whose version
 * moves between our read and our write is skipped: the event of that
 * change is on its way and carries a newer state than ours would.
 *
 * resync --prune-unknown [--dry-run] finds the live users of the auth
 * database that MagentaUsers does not have.  Such a "ghost" is left by an
 * event published for a registration that a crash of MagentaUsers then
 * erased (possible before every commit was synchronous): it can log in,
 * and it holds its name, so a new registration of that name is parked
 * behind it for ever.  Each is tombstoned by the consumer's own
 * apply_user_event(), as a UserDeleted event of its next version would:
 * versions stay consistent, processed_events records it, and what was
 * parked behind it is applied in the same transaction.
 *
 * The auth users are read before MagentaUsers is asked about them: a user
 * reaches the auth database only after its registration committed, so one
 * that MagentaUsers lacks at that later moment is a ghost, or was deleted
 * there (its UserDeleted then finds the tombstone: same version, nothing
 * changes). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "conf.h"
#include "db.h"
#include "event.h"
#include "magentactl.h"
#include "uuid7.h"

#define PAGE 1000 /* auth users looked up in MagentaUsers at once */

/* $1 the last id of the page before (the nil UUID first): the next page of
 * live users, with the number of parked events waiting for each. */
static const char sql_page[] =
	"SELECT a.id::text, a.username, a.version,"
	" (SELECT count(*) FROM parked_events p WHERE p.blocked_by = a.id)"
	" FROM auth_users a WHERE a.deleted_at IS NULL AND a.id > $1::uuid"
	" ORDER BY a.id LIMIT 1000";

/* $1 user ids: those MagentaUsers does not have. */
static const char sql_unknown[] = "SELECT t.id::text FROM unnest($1::uuid[]) AS t(id)"
				  " WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.id)";

/* $1 a new event id, $2 the user: its tombstone at its next version. */
static const char sql_tombstone[] =
	"SELECT apply_user_event($1::uuid, 'UserDeleted', $2::uuid,"
	" (SELECT version + 1 FROM auth_users WHERE id = $2::uuid), now(),"
	" NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";

/* The ids of a page as one array literal ("{id,id,...}"); NULL when out of
 * memory.  The caller frees it. */
static char *page_ids(const PGresult *page)
{
	int n = PQntuples(page);
	char *arr = malloc((size_t)n * (UUID_STRLEN + 1) + 3), *o = arr;

	if (!arr)
		return NULL;
	*o++ = '{';
	for (int i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		o += snprintf(o, UUID_STRLEN + 1, "%s", PQgetvalue(page, i, 0));
	}
	*o++ = '}';
	*o = '\0';
	return arr;
}

/* Why a statement on db failed, in a few words. */
static const char *why(struct db *db, const PGresult *res)
{
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (db_unavailable(db, res))
		return "unreachable";
	return m ? m : "failed";
}

/* Tombstone user id; 0, or -1 (told on stderr). */
static int prune_one(struct db *auth, const char *id)
{
	char event_id[UUID_STRLEN + 1];
	const char *p[] = { event_id, id };
	PGresult *res;
	int rc = -1;

	uuid7_new(event_id);
	res = db_exec(auth, sql_tombstone, 2, p, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fprintf(stderr, "magentactl: resync: user '%s' not removed: %s\n", id,
			why(auth, res));
	else if (strcmp(PQgetvalue(res, 0, 0), "applied") != 0)
		fprintf(stderr, "magentactl: resync: user '%s' not removed: the event was %s\n", id,
			PQgetvalue(res, 0, 0));
	else
		rc = 0;
	PQclear(res);
	return rc;
}

/* Find (and unless dry_run remove) the auth users MagentaUsers does not
 * have, printing each; the count in *count.  0, or -1 on a failure. */
static int prune_unknown(struct db *auth, struct db *users, int dry_run, long *count)
{
	char last[UUID_STRLEN + 1] = "00000000-0000-0000-0000-000000000000";
	PGresult *page = NULL, *unknown = NULL;
	char *arr = NULL;
	int rc = -1, header = 0, failed = 0;

	*count = 0;
	for (;;) {
		const char *p1[] = { last };
		int n;

		page = db_exec(auth, sql_page, 1, p1, 0);
		if (PQresultStatus(page) != PGRES_TUPLES_OK) {
			fprintf(stderr, "magentactl: resync: database '%s': %s\n", auth->dbname,
				why(auth, page));
			goto out;
		}
		n = PQntuples(page);
		if (n == 0)
			break;
		arr = page_ids(page);
		if (!arr) {
			fprintf(stderr, "magentactl: resync: out of memory\n");
			goto out;
		}
		{
			const char *p2[] = { arr };
			unknown = db_exec(users, sql_unknown, 1, p2, 0);
		}
		if (PQresultStatus(unknown) != PGRES_TUPLES_OK) {
			fprintf(stderr, "magentactl: resync: database '%s': %s\n", users->dbname,
				why(users, unknown));
			goto out;
		}
		for (int u = 0; u < PQntuples(unknown); u++) {
			const char *id = PQgetvalue(unknown, u, 0);
			int i = 0;

			while (i < n && strcmp(PQgetvalue(page, i, 0), id) != 0)
				i++;
			if (i == n)
				continue; /* cannot be: it came from this page */
			if (!header++)
				printf("%-36s  %-20s  %7s  %6s\n", "USER", "USERNAME", "VERSION",
				       "PARKED");
			printf("%-36s  %-20s  %7s  %6s\n", id, PQgetvalue(page, i, 1),
			       PQgetvalue(page, i, 2), PQgetvalue(page, i, 3));
			if (dry_run)
				(*count)++;
			else if (prune_one(auth, id) == 0)
				(*count)++;
			else
				failed = 1;
		}
		snprintf(last, sizeof(last), "%s", PQgetvalue(page, n - 1, 0));
		PQclear(unknown);
		unknown = NULL;
		PQclear(page);
		page = NULL;
		free(arr);
		arr = NULL;
		if (n < PAGE)
			break;
	}
	rc = failed ? -1 : 0;
out:
	free(arr);
	PQclear(unknown);
	PQclear(page);
	return rc;
}

#define RESYNC_BATCH 500 /* users (or tombstones) a transaction, by default */
#define RESYNC_BATCH_MAX 100000

/* What a full resync is asked to do and has done (committed batches). */
struct resync {
	struct db *db;
	const char *since; /* NULL: everything */
	char batch[16];	   /* N as text, a statement parameter */
	long n;
	int dry_run;
	long long users_total, deleted_total;
	long long users, deleted, skipped, unreadable;
};

/* $1 the --since time or NULL: how many users and tombstones there are. */
static const char sql_counts[] =
	"SELECT (SELECT count(*) FROM users"
	"  WHERE $1::timestamptz IS NULL OR updated_at >= $1::timestamptz),"
	" (SELECT count(*) FROM deleted_users"
	"  WHERE $1::timestamptz IS NULL OR deleted_at >= $1::timestamptz)";

/* $1 the last id of the batch before (the nil UUID first), $2 --since or
 * NULL, $3 the batch size. */
static const char sql_users[] = "SELECT " ACCOUNT_COLUMNS " FROM users WHERE id > $1::uuid"
				" AND ($2::timestamptz IS NULL OR updated_at >= $2::timestamptz)"
				" ORDER BY id LIMIT $3::integer";

/* The same for the tombstones. */
static const char sql_deleted[] =
	"SELECT id::text, version, deleted_by::text, reason FROM deleted_users WHERE id > $1::uuid"
	" AND ($2::timestamptz IS NULL OR deleted_at >= $2::timestamptz)"
	" ORDER BY id LIMIT $3::integer";

/* The --since argument as a time PostgreSQL reads the same way (RFC 3339,
 * or a date: its midnight UTC) into out; 0, or -1 when it is neither. */
static int since_parse(const char *arg, char *out, size_t cap)
{
	if (strlen(arg) == 10)
		snprintf(out, cap, "%sT00:00:00Z", arg);
	else
		snprintf(out, cap, "%s", arg);
	return strlen(arg) < cap - 10 && event_time_valid(out) ? 0 : -1;
}

/* The progress line, on stderr. */
static void progress(const struct resync *r)
{
	fprintf(stderr, "resync: %lld / %lld users, %lld / %lld deleted\n", r->users,
		r->users_total, r->deleted, r->deleted_total);
}

/* What was written before a failure, on stderr. */
static void failed_after(const struct resync *r, const char *what)
{
	fprintf(stderr,
		"magentactl: resync: %s; written before it (committed): %lld users, %lld deleted;"
		" the batch it was in is rolled back\n",
		what, r->users, r->deleted);
}

/* Count what --since selects; 0, or -1 (told). */
static int resync_count(struct resync *r)
{
	const char *p[] = { r->since };
	PGresult *res = db_exec(r->db, sql_counts, 1, p, 1);
	int rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "magentactl: resync: database '%s': %s (nothing written)\n",
			r->db->dbname, why(r->db, res));
		goto out;
	}
	r->users_total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->deleted_total = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Write (or with dry_run count) the events of one batch of rows of res,
 * adding them to *written and *skipped; deleted: res holds tombstones.
 * 0, or -1 when a statement failed (told). */
static int batch_write(struct resync *r, const PGresult *res, int deleted, long long *written,
		       long long *skipped)
{
	char event_id[UUID_STRLEN + 1], what[512];

	for (int i = 0; i < PQntuples(res); i++) {
		struct account a;
		PGresult *w;
		int ok;

		if (deleted) {
			if (r->dry_run) {
				(*written)++;
				continue;
			}
			w = account_republish_deletion(
			    r->db, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10),
			    PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
			    PQgetvalue(res, i, 3), event_id);
		} else {
			if (account_from_row(res, i, 0, &a) != 0) {
				/* one bad row must not stop the others: told, counted */
				fprintf(
				    stderr,
				    "magentactl: resync: user '%s' not written: a value of its row"
				    " does not fit an event\n",
				    PQgetvalue(res, i, 0));
				r->unreadable++;
				continue;
			}
			if (r->dry_run) {
				(*written)++;
				continue;
			}
			w = account_republish(r->db, &a, event_id);
		}
		if (PQresultStatus(w) != PGRES_TUPLES_OK) {
			snprintf(what, sizeof(what), "%s '%s': database '%s': %s",
				 deleted ? "deleted user" : "user", PQgetvalue(res, i, 0),
				 r->db->dbname, why(r->db, w));
			PQclear(w);
			failed_after(r, what);
			return -1;
		}
		ok = PQntuples(w) == 1;
		PQclear(w);
		/* not written: its version moved since the batch was read */
		if (ok)
			(*written)++;
		else
			(*skipped)++;
	}
	return 0;
}

/* All the batches of sql (users, or with deleted the tombstones); 0, or
 * -1 (told). */
static int resync_pass(struct resync *r, const char *sql, int deleted)
{
	char last[UUID_STRLEN + 1] = "00000000-0000-0000-0000-000000000000", what[512];

	for (;;) {
		const char *p[] = { last, r->since, r->batch };
		long long written = 0, skipped = 0;
		PGresult *res;
		int n;

		if (!r->dry_run && db_begin(r->db) != 0) {
			snprintf(what, sizeof(what), "database '%s': cannot begin a transaction",
				 r->db->dbname);
			failed_after(r, what);
			return -1;
		}
		res = db_exec(r->db, sql, 3, p, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(what, sizeof(what), "database '%s': %s", r->db->dbname,
				 why(r->db, res));
			PQclear(res);
			if (!r->dry_run)
				db_rollback(r->db);
			failed_after(r, what);
			return -1;
		}
		n = PQntuples(res);
		if (batch_write(r, res, deleted, &written, &skipped) != 0) {
			PQclear(res);
			db_rollback(r->db);
			return -1;
		}
		if (n > 0)
			snprintf(last, sizeof(last), "%s", PQgetvalue(res, n - 1, 0));
		PQclear(res);
		if (!r->dry_run && db_commit(r->db) != 0) {
			snprintf(what, sizeof(what), "database '%s': the commit failed",
				 r->db->dbname);
			failed_after(r, what);
			return -1;
		}
		*(deleted ? &r->deleted : &r->users) += written;
		r->skipped += skipped;
		if (n > 0)
			progress(r);
		if (n < r->n)
			return 0;
	}
}

/* resync [--since TIMESTAMP] [--batch N] [--dry-run]: the exit status. */
static int resync_full(struct resync *r)
{
	int rc = -1;

	if (resync_count(r) != 0)
		return 1;
	if (resync_pass(r, sql_users, 0) != 0 || resync_pass(r, sql_deleted, 1) != 0)
		goto out;
	rc = r->unreadable ? -1 : 0;
out:
	if (r->dry_run)
		printf("resync: %lld users and %lld deleted users to write (dry run: nothing"
		       " written)\n",
		       r->users, r->deleted);
	else
		printf("resync: %lld UserUpdated and %lld UserDeleted events written to the outbox"
		       " of %s; %lld users skipped (changed meanwhile: their own events follow)\n",
		       r->users, r->deleted, r->db->dbname, r->skipped);
	if (r->unreadable)
		printf("resync: %lld users not written (their rows do not fit an event)\n",
		       r->unreadable);
	return rc == 0 ? 0 : 1;
}

/* resync [--since TIMESTAMP] [--batch N] [--dry-run] | resync --prune-unknown [--dry-run] */
int cmd_resync(int argc, char **argv)
{
	struct db auth, users;
	struct resync r = { .n = RESYNC_BATCH };
	char since[64];
	int prune = 0, dry_run = 0, full_only = 0, rc;
	long count = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--prune-unknown") == 0) {
			prune = 1;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry_run = 1;
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (since_parse(argv[++i], since, sizeof(since)) != 0) {
				fprintf(stderr,
					"magentactl: resync: --since wants a time (RFC 3339, as"
					" 2026-11-23T10:00:00Z) or a date (2026-11-23)\n");
				return 2;
			}
			r.since = since;
			full_only = 1;
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			char *end;

			r.n = strtol(argv[++i], &end, 10);
			if (end == argv[i] || *end || r.n < 1 || r.n > RESYNC_BATCH_MAX) {
				fprintf(stderr,
					"magentactl: resync: --batch wants a number from 1 to"
					" %d\n",
					RESYNC_BATCH_MAX);
				return 2;
			}
			full_only = 1;
		} else {
			fprintf(stderr, "magentactl: resync: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (prune && full_only) {
		fprintf(stderr, "magentactl: resync: --since and --batch do not go with"
				" --prune-unknown\n");
		return 2;
	}
	db_init(&users, conf_str(CONF_USERS_DB), "magentactl");
	if (!prune) {
		snprintf(r.batch, sizeof(r.batch), "%ld", r.n);
		r.db = &users;
		r.dry_run = dry_run;
		rc = resync_full(&r);
		db_close(&users);
		return rc;
	}
	db_init(&auth, conf_str(CONF_AUTH_DB), "magentactl");
	rc = prune_unknown(&auth, &users, dry_run, &count);
	printf("%ld user%s of %s unknown to %s %s\n", count, count == 1 ? "" : "s", auth.dbname,
	       users.dbname, dry_run ? "(dry run: nothing changed)" : "removed");
	db_close(&users);
	db_close(&auth);
	return rc == 0 ? 0 : 1;
}
