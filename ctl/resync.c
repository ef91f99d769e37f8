/* resync: bring MagentaAuthentication in line with MagentaUsers, the owner
 * of identities (docs/events.md "Tools").
 *
 * Only --prune-unknown for now: live users of the auth database that
 * MagentaUsers does not have.  Such a "ghost" is left by an event
 * published for a registration that a crash of MagentaUsers then erased
 * (possible before every commit was synchronous): it can log in, and it
 * holds its name, so a new registration of that name is parked behind it
 * for ever.  Each is tombstoned by the consumer's own apply_user_event(),
 * as a UserDeleted event of its next version would: versions stay
 * consistent, processed_events records it, and what was parked behind it
 * is applied in the same transaction.
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

#include "conf.h"
#include "db.h"
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

/* resync --prune-unknown [--dry-run] */
int cmd_resync(int argc, char **argv)
{
	struct db auth, users;
	int prune = 0, dry_run = 0, rc;
	long count = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--prune-unknown") == 0) {
			prune = 1;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry_run = 1;
		} else {
			fprintf(stderr, "magentactl: resync: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!prune) {
		fprintf(stderr, "magentactl: resync: only '--prune-unknown' is implemented yet\n");
		return 2;
	}
	db_init(&auth, conf_str(CONF_AUTH_DB), "magentactl");
	db_init(&users, conf_str(CONF_USERS_DB), "magentactl");
	rc = prune_unknown(&auth, &users, dry_run, &count);
	printf("%ld user%s of %s unknown to %s %s\n", count, count == 1 ? "" : "s", auth.dbname,
	       users.dbname, dry_run ? "(dry run: nothing changed)" : "removed");
	db_close(&users);
	db_close(&auth);
	return rc == 0 ? 0 : 1;
}
