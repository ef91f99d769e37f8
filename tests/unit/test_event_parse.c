/* Unit tests: reading event envelopes (event_parse) -- what the consumer
 * accepts, and what it rejects as poison, with which reason. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "event.h"
#include "t.h"
#include "token.h"
#include "validate.h"

static const char *const EID = "0193f1c2-7a00-7000-8000-000000000001";
static const char *const UID = "0193f1c2-7a00-7000-8000-0000000000aa";

/* A valid envelope built by the producer's own builder. */
static struct json_object *valid(const char *type, long version)
{
	struct event_user u = { "alice", "alice@example.com", "$argon2id$v=19$m=19456,t=2,p=1$x$y",
				"0123456789abcdef", 1, 1, NULL, "2026-11-23T10:00:00.123Z",
				"2026-11-23T10:00:01.000Z", "Alice", 0 };
	return event_envelope_new(EID, type, "2026-11-23T10:00:02.000Z", UID, version, NULL,
				  strcmp(type, "UserDeleted") == 0 ? NULL : &u);
}

/* Parse text; returns the reason ("ok" when accepted) and fills detail. */
static const char *parse(const char *text, char *detail, size_t n)
{
	struct event_in ev;
	struct event_error err;

	if (event_parse(&ev, text, strlen(text), &err) == 0) {
		event_in_release(&ev);
		snprintf(detail, n, "%s", "");
		return "ok";
	}
	snprintf(detail, n, "%s", err.detail);
	return err.reason;
}

/* Change one member of a valid envelope (set to JSON text, or delete when
 * json is NULL), in data when in_data; returns the verdict. */
static const char *mutate(const char *member, const char *json, int in_data, char *detail,
			  size_t n)
{
	struct json_object *env = valid("UserCreated", 1), *target = env;
	static char text[4096];
	const char *r;

	if (in_data)
		json_object_object_get_ex(env, "data", &target);
	if (json)
		json_object_object_add(target, member, json_tokener_parse(json));
	else
		json_object_object_del(target, member);
	snprintf(text, sizeof(text), "%s",
		 json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
	json_object_put(env);
	r = parse(text, detail, n);
	return r;
}

#define REJECTS(member, json, in_data, reason, field)                                       \
	do {                                                                                 \
		char d_[128];                                                                \
		const char *r_ = mutate(member, json, in_data, d_, sizeof(d_));              \
		CHECK(strcmp(r_, reason) == 0);                                              \
		CHECK(strcmp(d_, field) == 0);                                               \
		if (strcmp(r_, reason) != 0 || strcmp(d_, field) != 0)                       \
			fprintf(stderr, "  %s=%s: got %s/%s\n", member, json ? json : "(absent)", \
				r_, d_);                                                     \
	} while (0)

/* The builder's output is accepted, field by field. */
static void test_round_trip(void)
{
	const char *types[] = { "UserCreated", "UserUpdated", "UserDeleted" };

	for (int i = 0; i < 3; i++) {
		struct json_object *env = valid(types[i], 7);
		const char *text = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN);
		struct event_in ev;
		struct event_error err;

		CHECK(event_parse(&ev, text, strlen(text), &err) == 0);
		CHECK(strcmp(ev.event_id, EID) == 0);
		CHECK(strcmp(ev.user_id, UID) == 0);
		CHECK(strcmp(ev.event_type, types[i]) == 0);
		CHECK(ev.kind == (enum event_kind)i);
		CHECK(ev.version == 7);
		CHECK(strcmp(ev.occurred_at, "2026-11-23T10:00:02.000Z") == 0);
		if (i < 2) {
			CHECK(ev.has_data);
			CHECK(strcmp(ev.user.username, "alice") == 0);
			CHECK(strcmp(ev.user.email, "alice@example.com") == 0);
			CHECK(strncmp(ev.user.password_hash, "$argon2id$", 10) == 0);
			CHECK(ev.user.email_confirmed == 1 && ev.user.lockout_enabled == 1);
			CHECK(ev.user.lockout_end == NULL);
			CHECK(strcmp(ev.user.updated_at, "2026-11-23T10:00:01.000Z") == 0);
		} else {
			CHECK(!ev.has_data);
		}
		event_in_release(&ev);
		CHECK(ev.root == NULL);
		json_object_put(env);
	}
}

/* Bodies that are not a JSON object at all. */
static void test_not_json(void)
{
	char d[128];
	char big[EVENT_BODY_MAX + 2];
	struct event_in ev;
	struct event_error err;

	CHECK(strcmp(parse("", d, sizeof(d)), "empty_body") == 0);
	CHECK(strcmp(parse("not json", d, sizeof(d)), "invalid_json") == 0);
	CHECK(strcmp(parse("{\"eventId\":", d, sizeof(d)), "invalid_json") == 0);
	CHECK(strcmp(parse("{} {}", d, sizeof(d)), "invalid_json") == 0);
	CHECK(strcmp(parse("{\"a\":1,}", d, sizeof(d)), "invalid_json") == 0);
	CHECK(strcmp(parse("{'a':1}", d, sizeof(d)), "ok") != 0);
	CHECK(strcmp(parse("[1,2]", d, sizeof(d)), "not_an_object") == 0);
	CHECK(strcmp(parse("\"text\"", d, sizeof(d)), "not_an_object") == 0);
	CHECK(strcmp(parse("{\"eventType\":\"\xff\"}", d, sizeof(d)), "invalid_json") == 0);
	/* a NUL byte inside the body */
	CHECK(event_parse(&ev, "{\"a\":\0}", 7, &err) == -1 &&
	      strcmp(err.reason, "invalid_json") == 0);
	/* too large */
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	CHECK(strcmp(parse(big, d, sizeof(d)), "too_large") == 0);
	/* white space around is fine */
	{
		struct json_object *env = valid("UserDeleted", 2);
		char text[2048];
		snprintf(text, sizeof(text), " \n%s\n ",
			 json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
		CHECK(strcmp(parse(text, d, sizeof(d)), "ok") == 0);
		json_object_put(env);
	}
}

/* Each rule of the envelope. */
static void test_envelope_rules(void)
{
	REJECTS("eventType", "\"UserRenamed\"", 0, "unknown_type", "eventType");
	REJECTS("eventType", NULL, 0, "missing_field", "eventType");
	REJECTS("eventType", "7", 0, "invalid_field", "eventType");
	REJECTS("schemaVersion", "2", 0, "unsupported_schema", "schemaVersion");
	REJECTS("schemaVersion", "\"1\"", 0, "unsupported_schema", "schemaVersion");
	REJECTS("schemaVersion", NULL, 0, "missing_field", "schemaVersion");
	REJECTS("eventId", "\"not-a-uuid\"", 0, "invalid_field", "eventId");
	REJECTS("eventId", NULL, 0, "missing_field", "eventId");
	REJECTS("eventId", "null", 0, "missing_field", "eventId");
	REJECTS("userId", "\"0193f1c2-7a00-7000-8000-00000000000\"", 0, "invalid_field", "userId");
	REJECTS("userId", "42", 0, "invalid_field", "userId");
	REJECTS("version", "0", 0, "invalid_field", "version");
	REJECTS("version", "-3", 0, "invalid_field", "version");
	REJECTS("version", "1.5", 0, "invalid_field", "version");
	REJECTS("version", "\"2\"", 0, "invalid_field", "version");
	REJECTS("version", "99999999999999999999", 0, "invalid_field", "version");
	REJECTS("version", NULL, 0, "missing_field", "version");
	REJECTS("occurredAt", "\"yesterday\"", 0, "invalid_field", "occurredAt");
	REJECTS("occurredAt", "\"2026-02-30T10:00:00Z\"", 0, "invalid_field", "occurredAt");
	REJECTS("data", NULL, 0, "missing_field", "data");
	REJECTS("data", "[]", 0, "invalid_field", "data");
	REJECTS("data", "null", 0, "missing_field", "data");
}

/* Each rule of the user's state. */
static void test_data_rules(void)
{
	REJECTS("username", NULL, 1, "missing_field", "data.username");
	REJECTS("username", "\"\"", 1, "invalid_field", "data.username");
	REJECTS("username", "\"a\\u0000b\"", 1, "invalid_field", "data.username");
	REJECTS("username", "\"tab\\there\"", 1, "invalid_field", "data.username");
	REJECTS("email", "\"no-at-sign\"", 1, "invalid_field", "data.email");
	REJECTS("email", "\"sp ace@example.com\"", 1, "invalid_field", "data.email");
	REJECTS("passwordHash", "\"plaintext\"", 1, "invalid_field", "data.passwordHash");
	REJECTS("passwordHash", NULL, 1, "missing_field", "data.passwordHash");
	REJECTS("securityStamp", "\"\"", 1, "invalid_field", "data.securityStamp");
	REJECTS("emailConfirmed", "\"yes\"", 1, "invalid_field", "data.emailConfirmed");
	REJECTS("lockoutEnabled", NULL, 1, "missing_field", "data.lockoutEnabled");
	REJECTS("lockoutEnd", "\"soon\"", 1, "invalid_field", "data.lockoutEnd");
	REJECTS("createdAt", "\"2026-13-01T00:00:00Z\"", 1, "invalid_field", "data.createdAt");
	REJECTS("updatedAt", NULL, 1, "missing_field", "data.updatedAt");
	REJECTS("displayName", "\"\"", 1, "invalid_field", "data.displayName");
	REJECTS("displayName", "\"new\\nline\"", 1, "invalid_field", "data.displayName");
	REJECTS("displayName", "7", 1, "invalid_field", "data.displayName");
	REJECTS("roles", "[\"root\"]", 1, "invalid_field", "data.roles");
	REJECTS("roles", "\"admin\"", 1, "invalid_field", "data.roles");
	REJECTS("roles", "[\"admin\",3]", 1, "invalid_field", "data.roles");
	/* allowed variations */
	REJECTS("displayName", NULL, 1, "ok", "");
	REJECTS("displayName", "null", 1, "ok", "");
	REJECTS("roles", NULL, 1, "ok", "");
	REJECTS("roles", "null", 1, "ok", "");
	REJECTS("roles", "[\"admin\"]", 1, "ok", "");
	REJECTS("lockoutEnd", "\"2030-01-01T00:00:00+01:00\"", 1, "ok", "");
	REJECTS("lockoutEnd", NULL, 1, "ok", "");
	REJECTS("username", "\"J\\u00fcrgen\"", 1, "ok", "");
	REJECTS("extra", "{\"future\":true}", 0, "ok", "");
	/* no value ever appears in the detail */
	{
		char d[128];
		mutate("passwordHash", "\"secret-hash-value\"", 1, d, sizeof(d));
		CHECK(strstr(d, "secret") == NULL);
	}
}

/* A delete needs no data; changedFields must be an array when present. */
static void test_types(void)
{
	char d[128];
	struct json_object *env = valid("UserUpdated", 2);
	char text[4096];

	json_object_object_add(env, "changedFields", json_object_new_string("email"));
	snprintf(text, sizeof(text), "%s",
		 json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
	CHECK(strcmp(parse(text, d, sizeof(d)), "invalid_field") == 0 &&
	      strcmp(d, "changedFields") == 0);
	json_object_put(env);

	env = valid("UserDeleted", 3);
	json_object_object_add(env, "data", json_object_new_string("ignored"));
	snprintf(text, sizeof(text), "%s",
		 json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
	CHECK(strcmp(parse(text, d, sizeof(d)), "ok") == 0);
	json_object_put(env);
}

/* RFC 3339 with real dates. */
static void test_times(void)
{
	CHECK(event_time_valid("2026-11-23T10:00:00.123Z"));
	CHECK(event_time_valid("2026-11-23T10:00:00Z"));
	CHECK(event_time_valid("2026-11-23t10:00:00z"));
	CHECK(event_time_valid("2026-11-23T10:00:00.123456789+05:30"));
	CHECK(event_time_valid("2024-02-29T00:00:00Z"));
	CHECK(event_time_valid("2000-02-29T00:00:00Z"));
	CHECK(event_time_valid("2016-12-31T23:59:60Z"));
	CHECK(!event_time_valid("2023-02-29T00:00:00Z"));
	CHECK(!event_time_valid("1900-02-29T00:00:00Z"));
	CHECK(!event_time_valid("2026-04-31T00:00:00Z"));
	CHECK(!event_time_valid("2026-11-23 10:00:00Z"));
	CHECK(!event_time_valid("2026-11-23T24:00:00Z"));
	CHECK(!event_time_valid("2026-11-23T10:60:00Z"));
	CHECK(!event_time_valid("2026-11-23T10:00:00"));
	CHECK(!event_time_valid("2026-11-23T10:00:00.Z"));
	CHECK(!event_time_valid("2026-11-23T10:00:00.1234567890Z"));
	CHECK(!event_time_valid("2026-11-23T10:00:00+5:30"));
	CHECK(!event_time_valid("2026-11-23T10:00:00+24:00"));
	CHECK(!event_time_valid("2026-11-23T10:00:00Zjunk"));
	/* what PostgreSQL would refuse (a data error, retried until the
	 * delivery limit, instead of poison at once) */
	CHECK(event_time_valid("2026-11-23T10:00:00+15:59"));
	CHECK(event_time_valid("2026-11-23T10:00:00-15:59"));
	CHECK(!event_time_valid("2026-11-23T10:00:00+16:00"));
	CHECK(!event_time_valid("2026-11-23T10:00:00-23:59"));
	CHECK(event_time_valid("2016-12-31T23:59:60.000Z"));
	CHECK(!event_time_valid("2016-12-31T23:59:60.9999999Z"));
	CHECK(!event_time_valid("2016-12-31T23:59:60.5Z"));
	CHECK(event_time_valid("2016-12-31T23:59:59.999999999Z"));
	CHECK(!event_time_valid("0000-01-01T00:00:00Z"));
	CHECK(!event_time_valid(NULL));
	{
		char now[TIME_STRLEN + 1];
		event_time_now(now);
		CHECK(event_time_valid(now));
	}
}

/* A JSON string of n bytes: c repeated, then the ending end (may be ""). */
static const char *repeat(char c, size_t n, const char *end)
{
	static char buf[1024];
	size_t e = strlen(end);

	buf[0] = '"';
	memset(buf + 1, c, n - e);
	memcpy(buf + 1 + n - e, end, e);
	buf[1 + n] = '"';
	buf[2 + n] = '\0';
	return buf;
}

/* The one username limit (USERNAME_BYTES_MAX, which tokens sign) and the
 * email limit are enforced here: one byte more is poison. */
static void test_lengths(void)
{
	char d[128];

	CHECK(USERNAME_BYTES_MAX == TOKEN_USERNAME_MAX);
	CHECK(USERNAME_BYTES_MAX == 255 && EMAIL_MAX == 254);
	REJECTS("username", repeat('u', USERNAME_BYTES_MAX, ""), 1, "ok", "");
	REJECTS("username", repeat('u', USERNAME_BYTES_MAX + 1, ""), 1, "invalid_field",
		"data.username");
	REJECTS("email", repeat('e', EMAIL_MAX, "@x.test"), 1, "ok", "");
	REJECTS("email", repeat('e', EMAIL_MAX + 1, "@x.test"), 1, "invalid_field", "data.email");
	/* counted in bytes, not characters: 128 two-byte letters are 256 bytes */
	{
		char u[2 * 128 + 3];
		u[0] = '"';
		for (int i = 0; i < 128; i++)
			memcpy(u + 1 + 2 * i, "\xc3\xbc", 2);
		u[257] = '"';
		u[258] = '\0';
		CHECK(strcmp(mutate("username", u, 1, d, sizeof(d)), "invalid_field") == 0);
		u[255] = '"';
		u[256] = '\0';
		CHECK(strcmp(mutate("username", u, 1, d, sizeof(d)), "ok") == 0);
	}
}

int main(void)
{
	test_round_trip();
	test_not_json();
	test_envelope_rules();
	test_data_rules();
	test_types();
	test_times();
	test_lengths();
	return t_done();
}
