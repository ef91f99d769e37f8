/* json: request bodies parsed strictly, members read, replies serialized,
 * and json-c's copies of secrets wiped (json-c 0.16). */
#ifndef MAGENTA_JSON_H
#define MAGENTA_JSON_H

#include <stddef.h>

#include <json-c/json.h>

/* Parse len bytes as exactly one JSON object (strict, UTF-8, no NUL byte,
 * nothing but white space after it, no member name twice in one object):
 * 0 with *out set (caller json_object_put()s, or json_put_wiped()s when it
 * may hold a secret), or -1 with *code ("invalid_body", "invalid_utf8",
 * "malformed_json", "duplicate_member", "internal_error") and *message,
 * static strings.  json-c's own copies are wiped, but for the value a
 * repeated name replaced, which json-c frees as it parses. */
int json_parse_object(const char *body, size_t len, struct json_object **out, const char **code,
		      const char **message);

/* Read member key of obj as a string: 0 with *s,*len set; 1 when absent or
 * null; -1 when of another type. */
int json_get_str(struct json_object *obj, const char *key, const char **s, size_t *len);

/* Read member key as a boolean: 0 with *b set; 1 when absent or null; -1
 * when of another type. */
int json_get_bool(struct json_object *obj, const char *key, int *b);

/* Serialize without escaping '/' and without spaces. */
const char *json_plain(struct json_object *obj);

/* Release obj (NULL: nothing) after zeroing its string values: for
 * request bodies with passwords or tokens.  (Copies outside json-c, such
 * as libfcgi's stream buffers, are not reached.) */
void json_put_wiped(struct json_object *obj);

/* The same for a reply, after also zeroing text, its serialization
 * (json_plain's, which json-c keeps with obj). */
void json_put_wiped_sent(struct json_object *obj, const char *text);

#endif
