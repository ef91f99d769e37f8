/* json: parsing request bodies strictly, reading members, serializing,
 * and wiping json-c's copies of secrets. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "json.h"
#include "validate.h"

/* json-c's nesting limit for request bodies. */
#define JSON_DEPTH_MAX 32

/* Serialize compactly. */
const char *json_plain(struct json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Zero every string value in obj, at any depth. */
static void json_wipe_strings(struct json_object *obj)
{
	if (json_object_is_type(obj, json_type_string)) {
		sodium_memzero((char *)json_object_get_string(obj),
			       (size_t)json_object_get_string_len(obj));
	} else if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, k, v)
		{
			(void)k;
			json_wipe_strings(v);
		}
	} else if (json_object_is_type(obj, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			json_wipe_strings(json_object_array_get_idx(obj, i));
	}
}

void json_put_wiped(struct json_object *obj)
{
	if (!obj)
		return;
	json_wipe_strings(obj);
	json_object_put(obj);
}

void json_put_wiped_sent(struct json_object *obj, const char *text)
{
	sodium_memzero((char *)text, strlen(text));
	json_put_wiped(obj);
}

/* What json-c does not check, read outside every string of s: whether a
 * ' appears (json-c 0.16 accepts single-quoted member names even in strict
 * mode; JSON does not), and how many members are written (each ':'
 * separates a member's name from its value), at any depth. */
static void scan_outside_strings(const char *s, size_t len, int *bare_quote, size_t *members)
{
	int in_str = 0;

	*bare_quote = 0;
	*members = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '\'') {
			*bare_quote = 1;
		} else if (s[i] == ':') {
			(*members)++;
		}
	}
}

/* Members of obj and of every object in it. */
static size_t members_parsed(struct json_object *obj)
{
	size_t n = 0;

	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, k, v)
		{
			(void)k;
			n += 1 + members_parsed(v);
		}
	} else if (json_object_is_type(obj, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			n += members_parsed(json_object_array_get_idx(obj, i));
	}
	return n;
}

/* NUL, UTF-8 and syntax checks, then one strict parse. */
int json_parse_object(const char *body, size_t len, struct json_object **out, const char **code,
		      const char **message)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t written;
	int bare_quote;

	*out = NULL;
	if (memchr(body, '\0', len)) {
		*code = "invalid_body";
		*message = "Request body contains a NUL byte.";
		return -1;
	}
	if (utf8_codepoints(body, len) < 0) {
		*code = "invalid_utf8";
		*message = "Request body is not valid UTF-8.";
		return -1;
	}
	scan_outside_strings(body, len, &bare_quote, &written);
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok) {
		*code = "internal_error";
		*message = "Out of memory.";
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj && jerr == json_tokener_success && bare_quote)
		jerr = json_tokener_error_parse_unexpected;
	if (obj && jerr == json_tokener_success) {
		/* only white space may follow the value */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!isspace((unsigned char)body[i]))
				jerr = json_tokener_error_parse_unexpected;
	} else if (jerr == json_tokener_continue) {
		jerr = json_tokener_error_parse_eof;
	}
	/* its work buffer holds a copy of the last string read (a password
	 * at the end of a body): wiped, like everything that held the body
	 * (the field is public in json-c 0.16's header, if deprecated) */
	if (tok->pb && tok->pb->buf)
		sodium_memzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	*code = "malformed_json";
	if (jerr != json_tokener_success) {
		json_put_wiped(obj);
		*message = "Request body is not valid JSON.";
		return -1;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_put_wiped(obj);
		*message = "Request body must be a JSON object.";
		return -1;
	}
	/* json-c keeps the last of a repeated name: which one counts would
	 * be a guess (RFC 8259 leaves it open; RFC 7493 forbids repeats).
	 * The value it replaced was freed unwiped while it parsed (it has no
	 * hook for that): docs/auth.md, "Secrets in memory". */
	if (written != members_parsed(obj)) {
		json_put_wiped(obj);
		*code = "duplicate_member";
		*message = "Request body names a member more than once.";
		return -1;
	}
	*out = obj;
	return 0;
}

/* String member. */
int json_get_str(struct json_object *obj, const char *key, const char **s, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 0;
}

/* Boolean member. */
int json_get_bool(struct json_object *obj, const char *key, int *b)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*b = json_object_get_boolean(v);
	return 0;
}
