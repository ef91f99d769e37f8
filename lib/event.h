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
	const char *display_name; /* NULL: none */
	unsigned roles;		  /* roles.h bits */
};

/* Longest displayName in bytes that an event may carry (100 code points
 * of at most 4 bytes). */
#define EVENT_DISPLAY_NAME_MAX 400

/* Current UTC time with millisecond precision as RFC 3339 text. */
void event_time_now(char out[TIME_STRLEN + 1]);

/* Routing key for an event type ("UserCreated" -> "user.created"), or
 * NULL for an unknown type. */
const char *event_routing_key(const char *event_type);

/* Build the envelope.  changed_fields (consumed, may be NULL) is added only
 * for UserUpdated; user may be NULL (UserDeleted).  Caller
 * json_object_put()s the result.  data carries every field of struct
 * event_user; displayName and roles were added after schema version 1
 * was fixed, so readers take them as optional (absent: none). */
struct json_object *event_envelope_new(const char *event_id, const char *event_type,
				       const char *occurred_at, const char *user_id, long version,
				       struct json_object *changed_fields,
				       const struct event_user *user);

/* The audit data of a UserDeleted envelope: data.deletedBy (the id of
 * whoever deleted the user: the user, an administrator; NULL for an
 * operator's magentactl) and data.reason ("self", "admin", "operator"). */
void event_add_deletion(struct json_object *env, const char *deleted_by, const char *reason);

/* ---- reading: the consumer's side ---- */

enum event_kind { EVENT_CREATED, EVENT_UPDATED, EVENT_DELETED };

/* Largest message body the consumer accepts. */
#define EVENT_BODY_MAX 65536

/* A validated event.  The strings point into root, which owns them: they
 * live until event_in_release().  user is filled for UserCreated and
 * UserUpdated (full state); for UserDeleted has_data is 0. */
struct event_in {
	struct json_object *root;
	enum event_kind kind;
	const char *event_id;
	const char *event_type;
	const char *user_id;
	long long version;
	const char *occurred_at;
	int has_data;
	struct event_user user;
};

/* Why a message is poison: reason is a fixed code (empty_body,
 * invalid_json, not_an_object, too_large, missing_field, invalid_field,
 * unknown_type, unsupported_schema); detail names the field, never its value (a value
 * may be a password hash). */
struct event_error {
	const char *reason;
	char detail[128];
};

/* Parse and validate a message body of len bytes (no NUL needed).  0 with
 * ev filled (release it with event_in_release()), or -1 with err filled
 * and nothing to release. */
int event_parse(struct event_in *ev, const char *body, size_t len, struct event_error *err);

/* Drop the parsed document; ev's strings are gone afterwards. */
void event_in_release(struct event_in *ev);

/* 1 when s is an RFC 3339 date-time with a real calendar date
 * ("2026-11-23T10:00:00.123Z", "...+02:00"), else 0. */
int event_time_valid(const char *s);

#endif
