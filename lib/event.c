/* event: envelope construction. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "roles.h"
#include "uuid7.h"
#include "validate.h"

/* Longest text accepted where a UUID is expected (validated after). */
#define UUID_TEXT_MAX 64
/* Versions beyond this are nonsense (and would not survive a JSON double). */
#define EVENT_VERSION_MAX 9007199254740991LL

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
		json_object_object_add(d, "displayName", str_or_null(user->display_name));
		json_object_object_add(d, "roles", roles_to_json(user->roles));
		json_object_object_add(env, "data", d);
	}
	return env;
}

/* UserDeleted's audit data. */
void event_add_deletion(struct json_object *env, const char *deleted_by, const char *reason)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "deletedBy", str_or_null(deleted_by));
	json_object_object_add(d, "reason", json_object_new_string(reason));
	json_object_object_add(env, "data", d);
}

/* ---- reading ---- */

/* Two decimal digits at s, or -1. */
static int two_digits(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days in a month of the proleptic Gregorian calendar. */
static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* RFC 3339 date-time with a real date, one PostgreSQL accepts as well. */
int event_time_valid(const char *s)
{
	int y, mo, d, h, mi, se;
	size_t i;

	if (!s || strlen(s) < 20)
		return 0;
	if (two_digits(s) < 0 || two_digits(s + 2) < 0 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return 0;
	y = two_digits(s) * 100 + two_digits(s + 2);
	mo = two_digits(s + 5);
	d = two_digits(s + 8);
	h = two_digits(s + 11);
	mi = two_digits(s + 14);
	se = two_digits(s + 17);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 60)
		return 0;
	i = 19;
	if (s[i] == '.') {
		size_t start = ++i;
		while (s[i] >= '0' && s[i] <= '9')
			if (s[i++] != '0' && se == 60)
				return 0; /* a leap second has no fraction (PostgreSQL: 22008) */
		if (i == start || i - start > 9)
			return 0;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0')
		return 1;
	/* offsets up to 15:59, as PostgreSQL takes them (else 22009) */
	if ((s[i] == '+' || s[i] == '-') && two_digits(s + i + 1) >= 0 &&
	    two_digits(s + i + 1) <= 15 && s[i + 3] == ':' && two_digits(s + i + 4) >= 0 &&
	    two_digits(s + i + 4) <= 59 && s[i + 6] == '\0')
		return 1;
	return 0;
}

/* Fill err and return -1. */
static int ev_fail(struct event_error *err, const char *reason, const char *field)
{
	err->reason = reason;
	snprintf(err->detail, sizeof(err->detail), "%s", field ? field : "");
	return -1;
}

/* Bytes that may appear in the text fields: no control characters
 * (ASCII ones; the tokenizer has already checked the UTF-8). */
static int no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/* Printable ASCII without spaces: hashes and stamps. */
static int printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* A required (or, with optional, possibly absent/null) string member of
 * at most max bytes without NUL.  0 ok (*out NULL when absent), -1 with
 * err filled. */
static int ev_str(struct json_object *o, const char *key, size_t max, int optional,
		  const char **out, struct event_error *err)
{
	struct json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		if (optional)
			return 0;
		return ev_fail(err, "missing_field", key);
	}
	if (!json_object_is_type(v, json_type_string))
		return ev_fail(err, "invalid_field", key);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) == 0 ||
	    strlen(s) > max)
		return ev_fail(err, "invalid_field", key);
	*out = s;
	return 0;
}

/* A required boolean member. */
static int ev_bool(struct json_object *o, const char *key, int *out, struct event_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return ev_fail(err, "missing_field", key);
	if (!json_object_is_type(v, json_type_boolean))
		return ev_fail(err, "invalid_field", key);
	*out = json_object_get_boolean(v);
	return 0;
}

/* A required timestamp member. */
static int ev_time(struct json_object *o, const char *key, int optional, const char **out,
		   struct event_error *err)
{
	if (ev_str(o, key, 40, optional, out, err) != 0)
		return -1;
	if (*out && !event_time_valid(*out))
		return ev_fail(err, "invalid_field", key);
	return 0;
}

/* The "data" object: the user's full state. */
static int ev_data_fields(struct json_object *root, struct event_user *u, struct event_error *err);

/* The "data" object, with "data." in front of the field an error names. */
static int ev_data(struct json_object *root, struct event_user *u, struct event_error *err)
{
	char field[sizeof(err->detail)];

	if (ev_data_fields(root, u, err) == 0)
		return 0;
	if (strncmp(err->detail, "data", 4) != 0) {
		snprintf(field, sizeof(field), "data.%.100s", err->detail);
		snprintf(err->detail, sizeof(err->detail), "%s", field);
	}
	return -1;
}

/* The members of "data". */
static int ev_data_fields(struct json_object *root, struct event_user *u, struct event_error *err)
{
	struct json_object *d, *v;

	if (!json_object_object_get_ex(root, "data", &d) || d == NULL)
		return ev_fail(err, "missing_field", "data");
	if (!json_object_is_type(d, json_type_object))
		return ev_fail(err, "invalid_field", "data");
	if (ev_str(d, "username", USERNAME_BYTES_MAX, 0, &u->username, err) != 0)
		return -1;
	if (!no_controls(u->username))
		return ev_fail(err, "invalid_field", "data.username");
	if (ev_str(d, "email", EMAIL_MAX, 0, &u->email, err) != 0)
		return -1;
	if (!strchr(u->email, '@') || !printable_ascii(u->email))
		return ev_fail(err, "invalid_field", "data.email");
	if (ev_str(d, "passwordHash", 512, 0, &u->password_hash, err) != 0)
		return -1;
	/* a PHC string, or one sealed on the wire (eventseal.h: the consumer
	 * opens it and checks what it holds) */
	if (!printable_ascii(u->password_hash) ||
	    (u->password_hash[0] != '$' && strncmp(u->password_hash, "sealed:", 7) != 0))
		return ev_fail(err, "invalid_field", "data.passwordHash");
	if (ev_str(d, "securityStamp", 256, 0, &u->security_stamp, err) != 0)
		return -1;
	if (!printable_ascii(u->security_stamp))
		return ev_fail(err, "invalid_field", "data.securityStamp");
	if (ev_bool(d, "emailConfirmed", &u->email_confirmed, err) != 0 ||
	    ev_bool(d, "lockoutEnabled", &u->lockout_enabled, err) != 0 ||
	    ev_time(d, "lockoutEnd", 1, &u->lockout_end, err) != 0 ||
	    ev_time(d, "createdAt", 0, &u->created_at, err) != 0 ||
	    ev_time(d, "updatedAt", 0, &u->updated_at, err) != 0)
		return -1;
	/* added after schema version 1: optional */
	if (ev_str(d, "displayName", EVENT_DISPLAY_NAME_MAX, 1, &u->display_name, err) != 0)
		return -1;
	if (u->display_name && !no_controls(u->display_name))
		return ev_fail(err, "invalid_field", "data.displayName");
	u->roles = 0;
	if (json_object_object_get_ex(d, "roles", &v) && v != NULL &&
	    roles_from_json(v, &u->roles) != 0)
		return ev_fail(err, "invalid_field", "data.roles");
	return 0;
}

/* Parse and validate. */
int event_parse(struct event_in *ev, const char *body, size_t len, struct event_error *err)
{
	struct json_tokener *tok;
	struct json_object *root, *v;
	enum json_tokener_error jerr;
	size_t end;

	memset(ev, 0, sizeof(*ev));
	memset(err, 0, sizeof(*err));
	if (len > EVENT_BODY_MAX)
		return ev_fail(err, "too_large", NULL);
	if (len == 0)
		return ev_fail(err, "empty_body", NULL);
	if (memchr(body, '\0', len))
		return ev_fail(err, "invalid_json", NULL);
	tok = json_tokener_new_ex(16);
	if (!tok)
		return ev_fail(err, "invalid_json", "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !root) {
		json_object_put(root);
		return ev_fail(err, "invalid_json", json_tokener_error_desc(jerr));
	}
	for (; end < len; end++) /* only white space may follow */
		if (!strchr(" \t\r\n", body[end])) {
			json_object_put(root);
			return ev_fail(err, "invalid_json", "trailing characters");
		}
	ev->root = root;
	if (!json_object_is_type(root, json_type_object)) {
		ev_fail(err, "not_an_object", NULL);
		goto bad;
	}
	if (ev_str(root, "eventType", 64, 0, &ev->event_type, err) != 0)
		goto bad;
	if (strcmp(ev->event_type, "UserCreated") == 0)
		ev->kind = EVENT_CREATED;
	else if (strcmp(ev->event_type, "UserUpdated") == 0)
		ev->kind = EVENT_UPDATED;
	else if (strcmp(ev->event_type, "UserDeleted") == 0)
		ev->kind = EVENT_DELETED;
	else {
		ev_fail(err, "unknown_type", "eventType");
		goto bad;
	}
	if (!json_object_object_get_ex(root, "schemaVersion", &v) || v == NULL) {
		ev_fail(err, "missing_field", "schemaVersion");
		goto bad;
	}
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != EVENT_SCHEMA_VERSION) {
		ev_fail(err, "unsupported_schema", "schemaVersion");
		goto bad;
	}
	if (ev_str(root, "eventId", UUID_TEXT_MAX, 0, &ev->event_id, err) != 0)
		goto bad;
	if (!uuid_valid(ev->event_id)) {
		ev_fail(err, "invalid_field", "eventId");
		goto bad;
	}
	if (ev_str(root, "userId", UUID_TEXT_MAX, 0, &ev->user_id, err) != 0)
		goto bad;
	if (!uuid_valid(ev->user_id)) {
		ev_fail(err, "invalid_field", "userId");
		goto bad;
	}
	if (!json_object_object_get_ex(root, "version", &v) || v == NULL) {
		ev_fail(err, "missing_field", "version");
		goto bad;
	}
	errno = 0;
	ev->version = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
	if (errno || ev->version < 1 || ev->version > EVENT_VERSION_MAX) {
		ev_fail(err, "invalid_field", "version");
		goto bad;
	}
	if (ev_time(root, "occurredAt", 0, &ev->occurred_at, err) != 0)
		goto bad;
	if (ev->kind == EVENT_UPDATED && json_object_object_get_ex(root, "changedFields", &v) &&
	    v != NULL && !json_object_is_type(v, json_type_array)) {
		ev_fail(err, "invalid_field", "changedFields");
		goto bad;
	}
	if (ev->kind != EVENT_DELETED) {
		if (ev_data(root, &ev->user, err) != 0)
			goto bad;
		ev->has_data = 1;
	}
	return 0;
bad:
	event_in_release(ev);
	return -1;
}

/* Drop the parsed document. */
void event_in_release(struct event_in *ev)
{
	json_object_put(ev->root);
	memset(ev, 0, sizeof(*ev));
}
