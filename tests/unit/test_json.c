/* Unit tests: request body parsing and the JSON member helpers. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "http.h"
#include "t.h"

/* Parse text; return the error code, or "ok" (freeing the object). */
static const char *parse(const char *text, size_t len)
{
	struct json_object *o;
	const char *code = "?", *msg = "?";

	if (json_parse_object(text, len, &o, &code, &msg) == 0) {
		json_object_put(o);
		return "ok";
	}
	CHECK(o == NULL && msg && *msg);
	return code;
}

#define P(s) parse(s, sizeof(s) - 1)

/* Random objects whose member names mix spellings json-c may decode to
 * the same bytes: json_parse_object must refuse with duplicate_member
 * exactly those in which json-c itself keeps fewer members than are
 * written. */
static unsigned long long rnd_state = 42;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rnd_state >> 33) % n;
}

static const char *const atoms[] = {
    "a", "b", "\\u0061", "\\u0000", "\\ud800", "\\udc00", "\\ufffd", "\xef\xbf\xbd",
    "\\ud83d\\ude00", "\xf0\x9f\x98\x80", "\\ud83d", "\\ude00", "\\/", "/", "\\n",
    "\\u000A", "\\u00e9", "\xc3\xa9", "\\\"", "\\\\", "\\u005c", ":", ","};

static size_t random_name(char *b)
{
	size_t n = 0;
	unsigned k = rnd(4);

	b[n++] = '"';
	for (unsigned i = 0; i < k; i++) {
		const char *a = atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))];

		memcpy(b + n, a, strlen(a));
		n += strlen(a);
	}
	b[n++] = '"';
	return n;
}

static size_t random_object(char *b, int depth)
{
	size_t n = 0;
	unsigned m = rnd(4);

	b[n++] = '{';
	for (unsigned i = 0; i < m; i++) {
		unsigned t = rnd(4);

		if (i)
			b[n++] = ',';
		n += random_name(b + n);
		b[n++] = ':';
		if (t == 0 && depth < 3) {
			n += random_object(b + n, depth + 1);
		} else if (t == 1 && depth < 3) {
			b[n++] = '[';
			n += random_object(b + n, depth + 1);
			b[n++] = ']';
		} else if (t == 2) {
			n += random_name(b + n); /* a string value */
		} else {
			b[n++] = '1';
		}
	}
	b[n++] = '}';
	return n;
}

/* Members json-c kept, at any depth. */
static size_t kept(struct json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			n += 1 + kept(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += kept(json_object_array_get_idx(o, i));
	}
	return n;
}

/* Members written in b: its ':' outside strings. */
static size_t written(const char *b, size_t len)
{
	size_t n = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_str && b[i] == '\\')
			i++;
		else if (b[i] == '"')
			in_str = !in_str;
		else if (!in_str && b[i] == ':')
			n++;
	}
	return n;
}

static void names_like_json_c(void)
{
	char b[16384]; /* at most 40 objects of 3 members of < 80 bytes */
	int repeats = 0, disagree = 0;

	for (int it = 0; it < 30000; it++) {
		size_t len = random_object(b, 0);
		struct json_object *o;
		int ours;

		b[len] = '\0';
		o = json_tokener_parse(b);

		CHECK(o != NULL);
		if (!o)
			continue;
		ours = strcmp(parse(b, len), "duplicate_member") == 0;
		if (ours != (written(b, len) != kept(o)) && disagree++ < 3)
			fprintf(stderr, "duplicate_member %s for %.*s\n", ours ? "said" : "not said",
				(int)len, b);
		repeats += ours == 1;
		json_object_put(o);
	}
	CHECK(disagree == 0);
	CHECK(repeats > 3000); /* the mix does repeat names */
}

int main(void)
{
	struct json_object *o;
	const char *code, *msg, *s;
	size_t len;
	int b;

	CHECK(strcmp(P("{}"), "ok") == 0);
	CHECK(strcmp(P(" {\"a\": [1, 2, {\"b\": null}]} \n"), "ok") == 0);
	CHECK(strcmp(P("{\"a\":1} x"), "malformed_json") == 0);
	CHECK(strcmp(P("{\"a\":1}{}"), "malformed_json") == 0);
	CHECK(strcmp(P("{\"a\":}"), "malformed_json") == 0);
	CHECK(strcmp(P("{\"a\":1,}"), "malformed_json") == 0);
	CHECK(strcmp(P("{'a':1}"), "malformed_json") == 0);
	CHECK(strcmp(P("{\"a\":\"it's \\\"quoted\\\"\"}"), "ok") == 0);
	CHECK(strcmp(P("{\"a\":"), "malformed_json") == 0);
	CHECK(strcmp(P(""), "malformed_json") == 0);
	CHECK(strcmp(P("[1]"), "malformed_json") == 0);
	CHECK(strcmp(P("\"x\""), "malformed_json") == 0);
	CHECK(strcmp(P("42"), "malformed_json") == 0);
	CHECK(strcmp(P("{\"a\":\"\xff\"}"), "invalid_utf8") == 0);
	CHECK(strcmp(P("{\"a\":\"\xc0\xaf\"}"), "invalid_utf8") == 0);
	CHECK(strcmp(P("{\"a\":\"\xed\xa0\x80\"}"), "invalid_utf8") == 0);
	CHECK(strcmp(P("{\"a\":\"x\0\"}"), "invalid_body") == 0);
	CHECK(strcmp(P("{\"a\":\"caf\xc3\xa9\"}"), "ok") == 0);
	/* a member name twice in one object, at any depth */
	CHECK(strcmp(P("{\"a\":1,\"a\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"p\":\"x\",\"q\":1,\"p\":\"y\"}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"a\":{\"b\":1,\"b\":1}}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"a\":[{\"b\":1},{\"c\":1,\"c\":2}]}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"a\":1,\"\\u0061\":2}"), "duplicate_member") == 0); /* "a" escaped */
	/* names compared as json-c stores them: escapes resolved, a surrogate
	 * pair as its character, a lone surrogate as U+FFFD, cut at \u0000 */
	CHECK(strcmp(P("{\"pass\\u0077ord\":1,\"password\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\/\":1,\"/\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\ud800\":1,\"\\ufffd\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\udc00x\":1,\"\xef\xbf\xbdx\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"a\\u0000b\":1,\"a\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\u00e9\":1,\"\xc3\xa9\":2}"), "duplicate_member") == 0);
	CHECK(strcmp(P("{\"\\n\":1,\"\\u000a\":2}"), "duplicate_member") == 0);
	/* and only names: equal values, names that differ, names as values */
	CHECK(strcmp(P("{\"a\":\"a\",\"b\":\"a\",\"c\":[\"a\",\"a\"]}"), "ok") == 0);
	CHECK(strcmp(P("{\"\\ud800\\ud800\":1,\"\\ud800\":2,\"a\\u0000\":3,\"ab\":4}"), "ok") == 0);
	CHECK(strcmp(P("{\"a\":{\"b\":{\"c\":1}},\"b\":{\"c\":{\"a\":1}},\"c\":1}"), "ok") == 0);
	names_like_json_c();
	/* the same name in different objects, and colons inside strings, are fine */
	CHECK(strcmp(P("{\"a\":{\"a\":1},\"b\":[{\"a\":2},{\"a\":3}]}"), "ok") == 0);
	CHECK(strcmp(P("{\"a:b\":\"c:d\",\"e\":\"\\\":\"}"), "ok") == 0);

	/* members: strings keep their length, NUL escapes included */
	s = "{\"s\":\"a\\u0000b\",\"n\":null,\"i\":3,\"t\":true}";
	CHECK(json_parse_object(s, strlen(s), &o, &code, &msg) == 0);
	CHECK(json_get_str(o, "s", &s, &len) == 0 && len == 3 && strlen(s) == 1);
	CHECK(json_get_str(o, "n", &s, &len) == 1);
	CHECK(json_get_str(o, "missing", &s, &len) == 1);
	CHECK(json_get_str(o, "i", &s, &len) == -1);
	CHECK(json_get_bool(o, "t", &b) == 0 && b == 1);
	CHECK(json_get_bool(o, "i", &b) == -1);
	CHECK(json_get_bool(o, "missing", &b) == 1);
	json_object_put(o);

	/* serialization: compact, '/' not escaped */
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string("/api/x"));
	CHECK(strcmp(json_plain(o), "{\"path\":\"/api/x\"}") == 0);
	json_object_put(o);

	/* content types */
	CHECK(http_content_type_is_json("application/json"));
	CHECK(http_content_type_is_json("Application/JSON"));
	CHECK(http_content_type_is_json("application/json; charset=utf-8"));
	CHECK(http_content_type_is_json("application/json;charset=\"UTF-8\""));
	CHECK(!http_content_type_is_json("application/json; charset=latin1"));
	CHECK(!http_content_type_is_json("application/jsonx"));
	CHECK(!http_content_type_is_json("text/plain"));
	CHECK(!http_content_type_is_json(""));
	return t_done();
}
