/* Unit tests: request body parsing and the JSON member helpers. */
#include "config.h"

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
