/* Unit tests: no copy of a secret from a request body or a token reply is
 * left in freed memory by json-c, but for the one json-c frees as it
 * parses (the value a repeated member name replaces, in a body refused
 * for it): every block freed while watching is searched for the secret
 * (free_watch.h: json-c's calls bind to this program's free()). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "free_watch.h"
#include "http.h"
#include "t.h"

/* Release o (NULL: nothing) with put or wiped (text: its serialization,
 * or NULL), then stop watching; how many freed blocks held the secret
 * since watching began. */
static int release(struct json_object *o, const char *text, int wiped)
{
	if (wiped && text)
		json_put_wiped_sent(o, text);
	else if (wiped)
		json_put_wiped(o);
	else
		json_object_put(o);
	watching = 0;
	return leaked;
}

/* Parse body (which holds the secret) and release it; *code: "ok" or
 * the error code. */
static int leaks_of_parse(const char *body, int wiped, const char **code)
{
	struct json_object *o = NULL;
	const char *msg;

	leaked = 0;
	watching = 1;
	if (json_parse_object(body, strlen(body), &o, code, &msg) != 0)
		o = NULL;
	else
		*code = "ok";
	return release(o, NULL, wiped);
}

/* A reply holding the secret, serialized, then released. */
static int leaks_of_reply(int wiped)
{
	struct json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "refreshToken", json_object_new_string(secret));
	leaked = 0;
	watching = 1;
	text = json_plain(o);
	CHECK(strstr(text, secret) != NULL);
	return release(o, text, wiped);
}

int main(void)
{
	char body[256];
	const char *code;

	/* json-c's frees must reach ours: else there is nothing to watch */
	if (!free_watch_works()) {
		fprintf(stderr, "free() is not ours here: skipped\n");
		return 77;
	}

	/* the secret last: json-c's tokenizer buffer holds it at the end */
	snprintf(body, sizeof(body),
		 "{\"usernameOrEmail\":\"bob\",\"rememberMe\":false,\"password\":\"%s\"}", secret);
	CHECK(leaks_of_parse(body, 1, &code) == 0);
	CHECK(strcmp(code, "ok") == 0);
	CHECK(leaks_of_parse(body, 0, &code) > 0); /* the watch sees an unwiped copy */
	/* and first, and in a nested object */
	snprintf(body, sizeof(body), "{\"password\":\"%s\",\"usernameOrEmail\":\"bob\"}", secret);
	CHECK(leaks_of_parse(body, 1, &code) == 0);
	snprintf(body, sizeof(body), "{\"a\":{\"b\":[\"%s\"]},\"c\":1}", secret);
	CHECK(leaks_of_parse(body, 1, &code) == 0);
	/* a body refused for a repeated name is wiped too: the value kept */
	snprintf(body, sizeof(body), "{\"password\":\"x\",\"password\":\"%s\"}", secret);
	CHECK(leaks_of_parse(body, 1, &code) == 0);
	CHECK(strcmp(code, "duplicate_member") == 0);
	/* the value a repeat replaced json-c frees as it parses, unwiped: that
	 * one block and no other (docs/auth.md), whatever spelling makes
	 * json-c see one name twice, and the body is refused */
	static const char *const same[][2] = {
	    {"password", "password"},
	    {"password", "pass\\u0077ord"},
	    {"\\/", "/"},
	    {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
	    {"\\ud800", "\\ufffd"},
	    {"\\udc00x", "\xef\xbf\xbdx"},
	    {"a\\u0000b", "a"},
	    {"\\u00e9", "\xc3\xa9"},
	    {"\\n", "\\u000a"},
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"%s\":\"x\"}", same[i][0], secret,
			 same[i][1]);
		CHECK(leaks_of_parse(body, 1, &code) <= 1);
		CHECK(strcmp(code, "duplicate_member") == 0);
	}
	/* a reply with a token: its serialized text as well */
	CHECK(leaks_of_reply(1) == 0);
	CHECK(leaks_of_reply(0) > 0);
	return t_done();
}
