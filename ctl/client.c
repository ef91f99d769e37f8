/* client: the OAuth 2.0 clients of the authentication service (table
 * oauth_clients of MagentaAuthentication, docs/oauth2.md).
 *
 *   client add NAME [--public] [--scope "openid profile email"]
 *              [--grants password,refresh_token|none] [--json]
 *   client list [--json]
 *   client remove CLIENT_ID|NAME
 *
 * A confidential client's secret is printed once, by add; only its hash is
 * stored.  Removing a client revokes its sessions in the same transaction
 * (trigger oauth_clients_revoke_sessions). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "conf.h"
#include "db.h"
#include "magentactl.h"
#include "oauth_client.h"

static const char sql_add[] =
    "INSERT INTO oauth_clients (client_id, name, secret_hash, scopes, grants)"
    " VALUES ($1, $2, $3::bytea, $4::text[], $5::text[])";

static const char sql_list[] =
    "SELECT client_id, name, secret_hash IS NULL, scopes::text, array_to_string(grants, ','),"
    "  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "  (SELECT count(*) FROM sessions s WHERE s.client_id = c.client_id"
    "   AND s.revoked_at IS NULL AND s.expires_at > now())"
    " FROM oauth_clients c ORDER BY name";

/* $1 a client id, else a name: never two clients at once (a name may have
 * the form of another client's id) */
static const char sql_remove[] =
    "WITH d AS (DELETE FROM oauth_clients WHERE client_id = coalesce("
    " (SELECT client_id FROM oauth_clients WHERE client_id = $1),"
    " (SELECT client_id FROM oauth_clients WHERE name = $1))"
    " RETURNING client_id, name) SELECT client_id, name FROM d";

/* Why a statement failed, in a few words. */
static const char *why(struct db *db, const PGresult *res)
{
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (db_unavailable(db, res))
		return "unreachable";
	return m ? m : "failed";
}

/* 1 when name is a client name the table accepts. */
static int name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 100)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr(" ._-", c)))
			return 0;
	}
	return 1;
}

/* "{a,b}" or "a,b" as a JSON array. */
static struct json_object *grants_json(const char *text)
{
	struct json_object *a = json_object_new_array();
	char copy[64], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", text);
	for (char *t = strtok_r(copy, "{},", &save); t; t = strtok_r(NULL, "{},", &save))
		json_object_array_add(a, json_object_new_string(t));
	return a;
}

/* Parse --grants: "password,refresh_token" (any of them, each once) or
 * "none"; PostgreSQL's text[] form into out.  0 or -1. */
static int grants_parse(const char *s, char out[40])
{
	int pw = 0, rt = 0;
	char copy[64], *save = NULL;

	if (strcmp(s, "none") == 0) {
		snprintf(out, 40, "{}");
		return 0;
	}
	if (strlen(s) >= sizeof(copy) || !*s || s[strlen(s) - 1] == ',')
		return -1;
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "password") == 0 && !pw)
			pw = 1;
		else if (strcmp(t, "refresh_token") == 0 && !rt)
			rt = 1;
		else
			return -1;
	}
	snprintf(out, 40, "{%s%s%s}", pw ? "password" : "", pw && rt ? "," : "",
		 rt ? "refresh_token" : "");
	return 0;
}

static int add(struct db *db, const char *name, int public, unsigned scopes, const char *grants,
	       int json)
{
	char id[OAUTH_CLIENT_ID_STRLEN + 1], secret[OAUTH_SECRET_STRLEN + 1] = "";
	char hash_hex[2 * OAUTH_SECRET_HASHBYTES + 3], pg[OAUTH_SCOPE_STRMAX],
	    text[OAUTH_SCOPE_STRMAX];
	unsigned char hash[OAUTH_SECRET_HASHBYTES];
	const char *p[5];
	PGresult *res;
	int rc = 0;

	oauth_client_id_new(id);
	if (!public) {
		oauth_secret_new(secret, hash);
		hash_hex[0] = '\\';
		hash_hex[1] = 'x';
		sodium_bin2hex(hash_hex + 2, sizeof(hash_hex) - 2, hash, sizeof(hash));
	}
	p[0] = id;
	p[1] = name;
	p[2] = public ? NULL : hash_hex;
	p[3] = oauth_scope_pg(scopes, pg);
	p[4] = grants;
	res = db_exec(db, sql_add, 5, p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (db_unique_violation(res))
			fprintf(stderr, "magentactl: client: a client named '%s' exists already\n",
				name);
		else
			fprintf(stderr, "magentactl: client: database '%s': %s\n", db->dbname,
				why(db, res));
		rc = 1;
	} else if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "clientId", json_object_new_string(id));
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "public", json_object_new_boolean(public));
		json_object_object_add(o, "clientSecret",
				       public ? NULL : json_object_new_string(secret));
		json_object_object_add(o, "scope",
				       json_object_new_string(oauth_scope_text(scopes, text)));
		json_object_object_add(o, "grants", grants_json(grants));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("client_id      %s\n", id);
		if (!public)
			printf("client_secret  %s\n"
			       "               (shown once: only its hash is kept)\n",
			       secret);
		printf("type           %s\n", public ? "public" : "confidential");
		printf("scope          %s\n", oauth_scope_text(scopes, text));
		printf("grants         %s\n", strcmp(grants, "{}") == 0 ? "none (introspection only)"
									: grants);
	}
	sodium_memzero(secret, sizeof(secret));
	PQclear(res);
	return rc;
}

static int list(struct db *db, int json)
{
	PGresult *res = db_exec(db, sql_list, 0, NULL, 1);
	struct json_object *a = json ? json_object_new_array() : NULL;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "magentactl: client: database '%s': %s\n", db->dbname,
			why(db, res));
		PQclear(res);
		json_object_put(a);
		return 1;
	}
	if (!json && PQntuples(res) > 0)
		printf("%-24s %-12s %-22s %-8s %s\n", "CLIENT_ID", "TYPE", "SCOPE", "SESSIONS",
		       "NAME");
	for (int i = 0; i < PQntuples(res); i++) {
		char text[OAUTH_SCOPE_STRMAX];
		unsigned scopes = 0;
		int public = PQgetvalue(res, i, 2)[0] == 't';

		if (oauth_scope_from_pg(PQgetvalue(res, i, 3), &scopes) != 0)
			snprintf(text, sizeof(text), "?");
		else
			oauth_scope_text(scopes, text);
		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "clientId",
					       json_object_new_string(PQgetvalue(res, i, 0)));
			json_object_object_add(o, "name",
					       json_object_new_string(PQgetvalue(res, i, 1)));
			json_object_object_add(o, "public", json_object_new_boolean(public));
			json_object_object_add(o, "scope", json_object_new_string(text));
			json_object_object_add(o, "grants", grants_json(PQgetvalue(res, i, 4)));
			json_object_object_add(o, "createdAt",
					       json_object_new_string(PQgetvalue(res, i, 5)));
			json_object_object_add(
			    o, "liveSessions",
			    json_object_new_int64(strtoll(PQgetvalue(res, i, 6), NULL, 10)));
			json_object_array_add(a, o);
		} else {
			printf("%-24s %-12s %-22s %-8s %s\n", PQgetvalue(res, i, 0),
			       public ? "public" : "confidential", text, PQgetvalue(res, i, 6),
			       PQgetvalue(res, i, 1));
		}
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	else if (PQntuples(res) == 0)
		printf("no clients\n");
	json_object_put(a);
	PQclear(res);
	return 0;
}

static int remove_client(struct db *db, const char *which)
{
	const char *p[] = { which };
	PGresult *res = db_exec(db, sql_remove, 1, p, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "magentactl: client: database '%s': %s\n", db->dbname,
			why(db, res));
		rc = 1;
	} else if (PQntuples(res) == 0) {
		fprintf(stderr, "magentactl: client: no client '%s'\n", which);
		rc = 1;
	} else {
		printf("removed client %s (%s); its sessions are revoked\n", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return rc;
}

int cmd_client(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "", *arg = NULL;
	unsigned scopes = OAUTH_SCOPES_ALL;
	char grants[40] = "{password,refresh_token}";
	int public = 0, json = 0, rc;
	struct db db;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "remove") != 0) {
		fprintf(stderr, "magentactl: client: expected add, list or remove\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(sub, "add") == 0 && strcmp(argv[i], "--public") == 0) {
			public = 1;
		} else if (strcmp(sub, "add") == 0 && strcmp(argv[i], "--scope") == 0) {
			if (++i == argc ||
			    oauth_scope_parse(argv[i], strlen(argv[i]), &scopes) != 0) {
				fprintf(stderr, "magentactl: client: --scope wants names from "
						"\"openid profile email\", each once, separated by "
						"one space\n");
				return 2;
			}
		} else if (strcmp(sub, "add") == 0 && strcmp(argv[i], "--grants") == 0) {
			if (++i == argc || grants_parse(argv[i], grants) != 0) {
				fprintf(stderr, "magentactl: client: --grants wants password,"
						"refresh_token (either or both) or none\n");
				return 2;
			}
		} else if (strcmp(sub, "remove") != 0 && strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-' || arg || strcmp(sub, "list") == 0) {
			fprintf(stderr, "magentactl: client: unknown argument '%s'\n", argv[i]);
			return 2;
		} else {
			arg = argv[i];
		}
	}
	if (strcmp(sub, "list") != 0 && !arg) {
		fprintf(stderr, "magentactl: client: %s needs a %s\n", sub,
			strcmp(sub, "add") == 0 ? "name" : "client id or name");
		return 2;
	}
	if (strcmp(sub, "add") == 0 && !name_valid(arg)) {
		fprintf(stderr, "magentactl: client: a name is 1 to 100 letters, digits, spaces, "
				"'.', '_' or '-', starting with a letter or digit\n");
		return 2;
	}
	db_init(&db, conf_str(CONF_AUTH_DB), "magentactl");
	if (strcmp(sub, "add") == 0)
		rc = add(&db, arg, public, scopes, grants, json);
	else if (strcmp(sub, "list") == 0)
		rc = list(&db, json);
	else
		rc = remove_client(&db, arg);
	db_close(&db);
	return rc;
}
