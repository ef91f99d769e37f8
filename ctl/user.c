/* user: an operator's look at one user of MagentaUsers, and the admin
 * role, which is granted here and never through HTTP (docs/events.md
 * "Tools").
 *
 * A role change is an account change like any other: the row at version
 * + 1 and its UserUpdated (changedFields ["roles"]) in one statement
 * (account_update), written only if nobody changed the user since it was
 * read; otherwise it is read again and retried. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "account.h"
#include "conf.h"
#include "db.h"
#include "magentactl.h"
#include "roles.h"
#include "validate.h"

#define USER_TRIES 5 /* reads of a user that keeps changing under us */

/* Why a statement on db failed, in a few words. */
static const char *why(struct db *db, const PGresult *res)
{
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (db_unavailable(db, res))
		return "unreachable";
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return "a value of the row does not fit";
	return m ? m : "failed";
}

/* 1 when name can be a username or (with an '@') an email. */
static int name_valid(const char *name)
{
	size_t n = strlen(name);

	return strchr(name, '@') ? valid_email(name, n) : valid_username(name, n);
}

/* Read user name into *a: 0, or 1 (told on stderr) when there is no such
 * user or the read failed. */
static int find(struct db *db, const char *name, struct account *a)
{
	PGresult *failed = NULL;
	int r = account_find(db, name, a, &failed);

	if (r == 1)
		return 0;
	if (r == 0)
		fprintf(stderr, "magentactl: user: no such user '%s'\n", name);
	else
		fprintf(stderr, "magentactl: user: database '%s': %s\n", db->dbname,
			why(db, failed));
	PQclear(failed);
	return 1;
}

/* Give (grant) or take away the admin role of user name; the exit
 * status. */
static int set_admin(struct db *db, const char *name, int grant)
{
	struct account a;
	char event_id[UUID_STRLEN + 1];

	for (int t = 0; t < USER_TRIES; t++) {
		PGresult *res;
		int written;

		if (find(db, name, &a) != 0)
			return 1;
		if (!!(a.roles & ROLE_ADMIN) == grant) {
			printf("user '%s' %s admin already: nothing written\n", a.username,
			       grant ? "is" : "is not");
			return 0;
		}
		a.roles = grant ? a.roles | ROLE_ADMIN : a.roles & ~ROLE_ADMIN;
		a.version++;
		event_time_now(a.updated_at);
		{
			struct json_object *changed = json_object_new_array();

			json_object_array_add(changed, json_object_new_string("roles"));
			res = account_update(db, &a, changed, event_id);
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "magentactl: user: database '%s': %s (nothing written)\n",
				db->dbname, why(db, res));
			PQclear(res);
			return 1;
		}
		written = PQntuples(res) == 1;
		PQclear(res);
		if (written) {
			printf("user '%s' %s admin: version %lld, event %s\n", a.username,
			       grant ? "is now" : "is no longer", a.version, event_id);
			return 0;
		}
		/* the version moved (or the user went) since we read it: again */
	}
	fprintf(stderr, "magentactl: user: '%s' changed %d times while we wrote: nothing written\n",
		name, USER_TRIES);
	return 1;
}

/* A JSON string, or null for "". */
static struct json_object *str_or_null(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

/* Print what an operator may see of a: never the hash or the stamp. */
static void show(const struct account *a, int json)
{
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(a->id));
		json_object_object_add(o, "username", json_object_new_string(a->username));
		json_object_object_add(o, "email", json_object_new_string(a->email));
		json_object_object_add(o, "emailConfirmed",
				       json_object_new_boolean(a->email_confirmed));
		json_object_object_add(o, "displayName", str_or_null(a->display_name));
		json_object_object_add(o, "roles", roles_to_json(a->roles));
		json_object_object_add(o, "lockoutEnabled",
				       json_object_new_boolean(a->lockout_enabled));
		json_object_object_add(o, "lockoutEnd", str_or_null(a->lockout_end));
		json_object_object_add(o, "locked", json_object_new_boolean(account_locked(a)));
		json_object_object_add(o, "createdAt", json_object_new_string(a->created_at));
		json_object_object_add(o, "updatedAt", json_object_new_string(a->updated_at));
		json_object_object_add(o, "version", json_object_new_int64(a->version));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("id              %s\n", a->id);
	printf("username        %s\n", a->username);
	printf("email           %s\n", a->email);
	printf("emailConfirmed  %s\n", a->email_confirmed ? "true" : "false");
	printf("displayName     %s\n", a->display_name[0] ? a->display_name : "-");
	printf("roles           ");
	for (unsigned bit = 1, n = 0; bit && bit <= ROLES_ALL; bit <<= 1)
		if (a->roles & bit)
			printf("%s%s", n++ ? "," : "", role_name(bit));
	printf("%s\n", a->roles ? "" : "-");
	printf("lockedUntil     %s%s\n", a->lockout_end[0] ? a->lockout_end : "-",
	       account_locked(a) ? " (locked)" : "");
	printf("createdAt       %s\n", a->created_at);
	printf("updatedAt       %s\n", a->updated_at);
	printf("version         %lld\n", a->version);
}

/* user grant-admin NAME | user revoke-admin NAME | user show [--json] NAME */
int cmd_user(int argc, char **argv)
{
	struct db db;
	struct account a;
	const char *sub = argc > 1 ? argv[1] : "", *name = NULL;
	int json = 0, rc;

	if (strcmp(sub, "grant-admin") != 0 && strcmp(sub, "revoke-admin") != 0 &&
	    strcmp(sub, "show") != 0) {
		fprintf(stderr, "magentactl: user: expected grant-admin, revoke-admin or show\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(sub, "show") == 0 && strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "magentactl: user: unknown argument '%s'\n", argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "magentactl: user: %s needs a username or email\n", sub);
		return 2;
	}
	if (!name_valid(name)) {
		fprintf(stderr, "magentactl: user: the name given is not a valid %s\n",
			strchr(name, '@') ? "email" : "username");
		return 2;
	}
	db_init(&db, conf_str(CONF_USERS_DB), "magentactl");
	if (strcmp(sub, "show") == 0) {
		rc = find(&db, name, &a);
		if (rc == 0)
			show(&a, json);
	} else {
		rc = set_admin(&db, name, strcmp(sub, "grant-admin") == 0);
	}
	db_close(&db);
	return rc;
}
