/* event: envelope construction. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "event.h"

/* Now, as 2026-11-23T10:00:00.123Z. */
void event_time_now(char out[TIME_STRLEN + 1])
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	unsigned ms = (unsigned)(ts.tv_nsec / 1000000) % 1000;

	memcpy(out, base, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

/* Type to routing key. */
const char *event_routing_key(const char *event_type)
{
	if (strcmp(event_type, "UserCreated") == 0)
		return "user.created";
	if (strcmp(event_type, "UserUpdated") == 0)
		return "user.updated";
	if (strcmp(event_type, "UserDeleted") == 0)
		return "user.deleted";
	return NULL;
}

/* A string member or JSON null. */
static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Assemble the envelope. */
struct json_object *event_envelope_new(const char *event_id, const char *event_type,
				       const char *occurred_at, const char *user_id, long version,
				       struct json_object *changed_fields,
				       const struct event_user *user)
{
	struct json_object *env = json_object_new_object();

	json_object_object_add(env, "eventId", json_object_new_string(event_id));
	json_object_object_add(env, "eventType", json_object_new_string(event_type));
	json_object_object_add(env, "schemaVersion", json_object_new_int(EVENT_SCHEMA_VERSION));
	json_object_object_add(env, "occurredAt", json_object_new_string(occurred_at));
	json_object_object_add(env, "userId", json_object_new_string(user_id));
	json_object_object_add(env, "version", json_object_new_int64(version));
	if (strcmp(event_type, "UserUpdated") == 0)
		json_object_object_add(env, "changedFields",
				       changed_fields ? changed_fields : json_object_new_array());
	else
		json_object_put(changed_fields);
	if (user) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "username", str_or_null(user->username));
		json_object_object_add(d, "email", str_or_null(user->email));
		json_object_object_add(d, "passwordHash", str_or_null(user->password_hash));
		json_object_object_add(d, "securityStamp", str_or_null(user->security_stamp));
		json_object_object_add(d, "emailConfirmed",
				       json_object_new_boolean(user->email_confirmed));
		json_object_object_add(d, "lockoutEnabled",
				       json_object_new_boolean(user->lockout_enabled));
		json_object_object_add(d, "lockoutEnd", str_or_null(user->lockout_end));
		json_object_object_add(d, "createdAt", str_or_null(user->created_at));
		json_object_object_add(d, "updatedAt", str_or_null(user->updated_at));
		json_object_object_add(env, "data", d);
	}
	return env;
}
