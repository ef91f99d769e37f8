/* json: parsing request bodies strictly, reading members, serializing,
 * and wiping json-c's copies of secrets. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "json.h"
#include "validate.h"

/* json-c's nesting limit for request bodies; our name check stops there too. */
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

/* Four hex digits at s (the caller knows they are there); -1 if not hex. */
static long hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Decode the JSON string whose opening quote is at s[*i] into out, as
 * json-c 0.16 stores a member name: escapes resolved, a surrogate pair
 * joined, a lone surrogate as U+FFFD, and the name cut at a \u0000 (it
 * keeps names as C strings).  Leaves *i on the closing quote (or at len);
 * returns the bytes written, never more than the escaped text's length. */
static size_t name_decode(const char *s, size_t len, size_t *i, char *out)
{
	size_t n = 0;
	int cut = 0;

	for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
		long cp;

		if (s[*i] != '\\') {
			if (!cut)
				out[n++] = s[*i];
			continue;
		}
		if (++*i >= len)
			break;
		switch (s[*i]) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (*i + 4 >= len || (cp = hex4(s + *i + 1)) < 0)
				return n; /* not JSON: json-c refuses it */
			*i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && *i + 6 < len && s[*i + 1] == '\\' &&
			    s[*i + 2] == 'u') {
				long lo = hex4(s + *i + 3);

				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					*i += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			break;
		default: cp = (unsigned char)s[*i]; break; /* " \ / */
		}
		if (cp == 0)
			cut = 1;
		if (cut)
			continue;
		if (cp < 0x80) {
			out[n++] = (char)cp;
		} else if (cp < 0x800) {
			out[n++] = (char)(0xC0 | cp >> 6);
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[n++] = (char)(0xE0 | cp >> 12);
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[n++] = (char)(0xF0 | cp >> 18);
			out[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return n;
}

struct name_seen {
	size_t obj, off, len; /* obj 0: empty slot */
	uint64_t hash;
};

/* Does an object of the JSON text s name a member twice, with names
 * compared as json-c stores them?  Asked before json-c parses: it keeps
 * the last of a repeated name and frees the value it replaces unwiped,
 * and that value may be a password.  members: the ':' outside strings
 * (scan_outside_strings), an upper bound on the names.  1, 0, or -1 out
 * of memory; a text that is not JSON may get either answer (json-c
 * refuses it anyway). */
static int json_repeats_a_name(const char *s, size_t len, size_t members)
{
	struct {
		size_t obj; /* 0: an array */
		int want_name;
	} stack[JSON_DEPTH_MAX + 1];
	struct name_seen *seen = NULL;
	char *names = NULL;
	size_t cap = 8, used = 0, depth = 0, objs = 0;
	int rc = 0;

	if (members < 2)
		return 0;
	while (cap < 2 * members)
		cap *= 2;
	seen = calloc(cap, sizeof(*seen));
	names = malloc(len);
	if (!seen || !names) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = s[i];

		if (c == '{' || c == '[') {
			if (depth == JSON_DEPTH_MAX)
				break; /* too deep: json-c refuses it */
			depth++;
			stack[depth].obj = c == '{' ? ++objs : 0;
			stack[depth].want_name = c == '{';
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
		} else if (c == ',') {
			stack[depth].want_name = depth > 0 && stack[depth].obj != 0;
		} else if (c == '"' && depth > 0 && stack[depth].want_name) {
			size_t off = used, n = name_decode(s, len, &i, names + used), k;
			uint64_t h = 1469598103934665603ULL ^ stack[depth].obj;

			stack[depth].want_name = 0;
			for (size_t j = 0; j < n; j++)
				h = (h ^ (unsigned char)names[off + j]) * 1099511628211ULL;
			for (k = h & (cap - 1); seen[k].obj; k = (k + 1) & (cap - 1))
				if (seen[k].hash == h && seen[k].obj == stack[depth].obj &&
				    seen[k].len == n && memcmp(names + seen[k].off, names + off, n) == 0) {
					rc = 1;
					break;
				}
			if (rc == 0 && used + n <= len && members-- > 0) {
				seen[k] = (struct name_seen){stack[depth].obj, off, n, h};
				used += n;
			} else if (rc == 0) {
				break; /* more names than ':': not JSON */
			}
		} else if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		}
	}
out:
	if (names)
		sodium_memzero(names, len); /* member names only, but cheap */
	free(names);
	free(seen);
	return rc;
}

int json_names_repeat(const char *s, size_t len)
{
	size_t members;
	int bare_quote;

	scan_outside_strings(s, len, &bare_quote, &members);
	return json_repeats_a_name(s, len, members);
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
	switch (json_repeats_a_name(body, len, written)) {
	case 1:
		*code = "duplicate_member";
		*message = "Request body names a member more than once.";
		return -1;
	case -1:
		*code = "internal_error";
		*message = "Out of memory.";
		return -1;
	}
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
	 * be a guess (RFC 8259 leaves it open; RFC 7493 forbids repeats) */
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
