/* Unit tests: application/x-www-form-urlencoded parsing (lib/form.c). */
#include "config.h"

#include <string.h>

#include "form.h"
#include "t.h"

/* Parse s; the code (NULL when it parsed). */
static const char *parse(const char *s, struct form *f)
{
	const char *code = NULL, *msg = NULL;

	if (form_parse(s, strlen(s), f, &code, &msg) == 0)
		return NULL;
	CHECK(msg && *msg);
	return code;
}

static int is(const struct form *f, const char *name, const char *want)
{
	size_t len;
	const char *v = form_get(f, name, &len);

	return v && len == strlen(want) && strcmp(v, want) == 0;
}

int main(void)
{
	struct form f;
	size_t len;
	char big[4096] = "";

	/* RFC 6749 4.3.2's example */
	CHECK(parse("grant_type=password&username=johndoe&password=A3ddj3w", &f) == NULL);
	CHECK(f.n == 3 && is(&f, "grant_type", "password") && is(&f, "username", "johndoe") &&
	      is(&f, "password", "A3ddj3w"));
	CHECK(form_get(&f, "scope", NULL) == NULL);
	CHECK(form_get(&f, "grant", NULL) == NULL && form_get(&f, "grant_type_", NULL) == NULL);
	form_free(&f);
	CHECK(f.buf == NULL && f.n == 0);

	/* '+', escapes of both cases, UTF-8, '=' inside a value, no '=' */
	CHECK(parse("scope=openid+profile%20email&p=%C3%a9t%C3%A9%3D%26&x=a=b&flag", &f) == NULL);
	CHECK(is(&f, "scope", "openid profile email") && is(&f, "p", "\xc3\xa9t\xc3\xa9=&") &&
	      is(&f, "x", "a=b") && is(&f, "flag", ""));
	CHECK(form_get(&f, "flag", &len) && len == 0);
	form_free(&f);

	/* empty pairs and an empty body */
	CHECK(parse("&&a=1&&&b=&", &f) == NULL && f.n == 2 && is(&f, "a", "1") && is(&f, "b", ""));
	form_free(&f);
	CHECK(parse("", &f) == NULL && f.n == 0);
	form_free(&f);
	/* an escaped name */
	CHECK(parse("client%5Fid=c1", &f) == NULL && is(&f, "client_id", "c1"));
	form_free(&f);

	/* malformed escapes, NUL, bad UTF-8: refused, not guessed at */
	static const char *const bad[] = { "a=%", "a=%4", "a=%4g", "a=%g4", "a%=1", "a=%00",
					   "a=%C3", "a=%C0%AF", "a=%ED%A0%80", "a=\xff", "%=1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *code = parse(bad[i], &f);
		CHECK(code && strcmp(code, "invalid_encoding") == 0);
		form_free(&f);
	}
	/* a NUL byte in the raw body */
	{
		const char *code, *msg;
		CHECK(form_parse("a=1\0b", 5, &f, &code, &msg) == -1 &&
		      strcmp(code, "invalid_encoding") == 0);
		form_free(&f);
	}

	/* a name given twice (RFC 6749 3.1), however spelled */
	{
		const char *code = parse("a=1&b=2&a=3", &f);
		CHECK(code && strcmp(code, "repeated_parameter") == 0);
	}
	form_free(&f);
	CHECK(strcmp(parse("grant_type=x&grant%5ftype=y", &f), "repeated_parameter") == 0);
	form_free(&f);
	CHECK(strcmp(parse("a&a", &f), "repeated_parameter") == 0);
	form_free(&f);

	/* at most FORM_FIELDS_MAX */
	for (int i = 0; i < FORM_FIELDS_MAX; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "%sk%d=v", i ? "&" : "", i);
	CHECK(parse(big, &f) == NULL && f.n == FORM_FIELDS_MAX && is(&f, "k31", "v"));
	form_free(&f);
	snprintf(big + strlen(big), sizeof(big) - strlen(big), "&one=more");
	CHECK(strcmp(parse(big, &f), "too_many_parameters") == 0);
	form_free(&f);
	return t_done();
}
