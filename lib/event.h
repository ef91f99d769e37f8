/* event: the JSON envelope of UserCreated / UserUpdated / UserDeleted
 * (see DESIGN.md, "Events").  Built by the registration service into the
 * outbox; read by the consumer. */
#ifndef MAGENTA_EVENT_H
#define MAGENTA_EVENT_H

#include <json-c/json.h>

#define EVENT_SCHEMA_VERSION 1
#define TIME_STRLEN 24 /* "2026-11-23T10:00:00.123Z" */

/* The state of a user that events carry ("data"). */
struct event_user {
	const char *username;
	const char *email;
	const char *password_hash;
	const char *security_stamp;
	int email_confirmed;
	int lockout_enabled;
	const char *lockout_end; /* NULL: none */
	const char *created_at;
	const char *updated_at;
};

/* Current UTC time with millisecond precision as RFC 3339 text. */
void event_time_now(char out[TIME_STRLEN + 1]);

/* Routing key for an event type ("UserCreated" -> "user.created"), or
 * NULL for an unknown type. */
const char *event_routing_key(const char *event_type);

/* Build the envelope.  changed_fields (consumed, may be NULL) is added only
 * for UserUpdated; user may be NULL (UserDeleted).  Caller
 * json_object_put()s the result. */
struct json_object *event_envelope_new(const char *event_id, const char *event_type,
				       const char *occurred_at, const char *user_id, long version,
				       struct json_object *changed_fields,
				       const struct event_user *user);

#endif
