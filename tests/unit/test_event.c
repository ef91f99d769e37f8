/* Unit tests: the event envelope. */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "event.h"
#include "roles.h"
#include "t.h"

/* The string member key of o, or "" */
static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

int main(void)
{
	char now[TIME_STRLEN + 1];
	struct event_user u = { "alice", "alice@example.com", "$argon2id$x", "stamp", 0, 1,
				NULL, "2026-11-23T10:00:00.123Z", "2026-11-23T10:00:00.123Z",
				"Alice A.", ROLE_ADMIN };
	struct json_object *env, *d, *v;

	event_time_now(now);
	CHECK(strlen(now) == TIME_STRLEN);
	CHECK(now[10] == 'T' && now[19] == '.' && now[23] == 'Z');

	CHECK(strcmp(event_routing_key("UserCreated"), "user.created") == 0);
	CHECK(strcmp(event_routing_key("UserUpdated"), "user.updated") == 0);
	CHECK(strcmp(event_routing_key("UserDeleted"), "user.deleted") == 0);
	CHECK(event_routing_key("UserRenamed") == NULL);

	env = event_envelope_new("e1", "UserCreated", now, "u1", 1, NULL, &u);
	CHECK(strcmp(str(env, "eventId"), "e1") == 0);
	CHECK(strcmp(str(env, "eventType"), "UserCreated") == 0);
	CHECK(strcmp(str(env, "userId"), "u1") == 0);
	CHECK(json_object_object_get_ex(env, "schemaVersion", &v) && json_object_get_int(v) == 1);
	CHECK(json_object_object_get_ex(env, "version", &v) && json_object_get_int64(v) == 1);
	CHECK(!json_object_object_get_ex(env, "changedFields", NULL));
	CHECK(json_object_object_get_ex(env, "data", &d));
	CHECK(strcmp(str(d, "passwordHash"), "$argon2id$x") == 0);
	CHECK(json_object_object_get_ex(d, "lockoutEnd", &v) && v == NULL);
	CHECK(json_object_object_get_ex(d, "lockoutEnabled", &v) && json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(d, "emailConfirmed", &v) && !json_object_get_boolean(v));
	CHECK(!json_object_object_get_ex(d, "password", NULL));
	CHECK(strcmp(str(d, "displayName"), "Alice A.") == 0);
	CHECK(json_object_object_get_ex(d, "roles", &v) && json_object_array_length(v) == 1 &&
	      strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "admin") == 0);
	json_object_put(env);
	u.roles = 0;
	u.display_name = NULL;
	env = event_envelope_new("e1", "UserCreated", now, "u1", 1, NULL, &u);
	CHECK(json_object_object_get_ex(env, "data", &d));
	CHECK(json_object_object_get_ex(d, "roles", &v) && json_object_array_length(v) == 0);
	CHECK(json_object_object_get_ex(d, "displayName", &v) && v == NULL);
	json_object_put(env);

	{
		struct json_object *cf = json_object_new_array();
		json_object_array_add(cf, json_object_new_string("email"));
		env = event_envelope_new("e2", "UserUpdated", now, "u1", 2, cf, &u);
		CHECK(json_object_object_get_ex(env, "changedFields", &v) &&
		      json_object_array_length(v) == 1);
		json_object_put(env);
	}
	env = event_envelope_new("e3", "UserDeleted", now, "u1", 3, NULL, NULL);
	CHECK(!json_object_object_get_ex(env, "data", NULL));
	event_add_deletion(env, "u1", "self");
	CHECK(json_object_object_get_ex(env, "data", &d));
	CHECK(strcmp(str(d, "deletedBy"), "u1") == 0 && strcmp(str(d, "reason"), "self") == 0);
	json_object_put(env);

	/* roles: the PostgreSQL and JSON forms */
	{
		char pg[32];
		unsigned r = 99;
		CHECK(strcmp(roles_to_pg(ROLE_ADMIN, pg, sizeof(pg)), "{admin}") == 0);
		CHECK(strcmp(roles_to_pg(0, pg, sizeof(pg)), "{}") == 0);
		CHECK(roles_from_pg("{}", &r) == 0 && r == 0);
		CHECK(roles_from_pg("{admin}", &r) == 0 && r == ROLE_ADMIN);
		CHECK(roles_from_pg("{admin,root}", &r) == -1);
		CHECK(roles_from_pg("{root}", &r) == -1);
		CHECK(roles_from_pg("{admin", &r) == -1);
		CHECK(roles_from_pg("{admin}x", &r) == -1);
		CHECK(roles_from_pg("admin", &r) == -1);
		CHECK(roles_from_pg(NULL, &r) == -1);
		v = json_tokener_parse("[\"admin\"]");
		CHECK(roles_from_json(v, &r) == 0 && r == ROLE_ADMIN);
		json_object_put(v);
		v = json_tokener_parse("[\"Admin\"]");
		CHECK(roles_from_json(v, &r) == -1);
		json_object_put(v);
		v = json_tokener_parse("[1]");
		CHECK(roles_from_json(v, &r) == -1);
		json_object_put(v);
		v = json_tokener_parse("\"admin\"");
		CHECK(roles_from_json(v, &r) == -1);
		json_object_put(v);
		CHECK(role_bit("admin\0x", 7) == 0);
	}
	return t_done();
}
