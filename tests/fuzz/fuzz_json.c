/* fuzz_json: JSON request bodies (lib/json.c's strict parser) and the
 * validation the handlers apply to them, in their order: the registration
 * body (fcgi/register.c's reg_validate, through fcgi/users_rules.c, linked
 * in) and the login body (fcgi/auth_login.c's login_validate).
 *
 * Properties: a refused body names its code and message; a string member
 * reported as valid UTF-8 by json-c's parser is so for utf8_codepoints
 * (json_parse_object validates UTF-8); an accepted username or email is
 * no longer than its limit. */
#include "config.h"

#include <unistd.h>

#include "conf.h"
#include "fuzz.h"
#include "http.h"
#include "json.h"
#include "refresh.h"
#include "registration.h"
#include "validate.h"

/* users_rules.c reads the blocklist from here. */
struct registration reg;

#define IDENT_MAX 320 /* fcgi/auth_login.c */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/fuzz_json.XXXXXX", err[256];
	static const char words[] = "#!comment: fuzz\npassword1234\nqwertyuiopas\n";
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	conf_defaults();
	if (fd < 0 || write(fd, words, sizeof(words) - 1) != (ssize_t)(sizeof(words) - 1)) {
		perror("fuzz_json: blocklist");
		exit(1);
	}
	close(fd);
	reg.blocked = blocklist_load(path, 0, err, sizeof(err));
	unlink(path);
	if (!reg.blocked) {
		fprintf(stderr, "fuzz_json: %s\n", err);
		exit(1);
	}
	return 0;
}

/* fcgi/register.c's reg_validate. */
static void registration_body(struct json_object *body, struct json_object *errors)
{
	const char *u = NULL, *e = NULL, *p = NULL, *c = NULL, *dn = NULL;
	size_t ulen = 0, elen = 0, plen = 0, clen = 0, dlen = 0;
	char email_lc[EMAIL_MAX + 1];
	int have_u, have_e, have_p, have_c;

	have_u =
	    http_need_str(body, "username", "Username", HTTP_STR_NO_NUL, 0, &u, &ulen, errors) == 0;
	have_e = http_need_str(body, "email", "Email", HTTP_STR_NO_NUL, 0, &e, &elen, errors) == 0;
	have_p =
	    http_need_str(body, "password", "Password", HTTP_STR_NO_NUL, 0, &p, &plen, errors) == 0;
	have_c = http_need_str(body, "confirmPassword", "Password confirmation", HTTP_STR_NO_NUL, 0,
			       &c, &clen, errors) == 0;
	if (have_u) {
		FUZZ_CHECK(utf8_codepoints(u, ulen) >= 0);
		if (rule_username(u, ulen, errors) != 0)
			have_u = 0;
		else
			FUZZ_CHECK(ulen >= USERNAME_MIN && ulen <= USERNAME_MAX);
	}
	if (have_e) {
		if (rule_email(e, elen, email_lc, errors) != 0) {
			have_e = 0;
		} else {
			FUZZ_CHECK(elen <= EMAIL_MAX && strlen(email_lc) == elen);
			FUZZ_CHECK(memchr(e, '@', elen) != NULL);
		}
	}
	if (have_p)
		rule_password(p, plen, "password", have_u ? u : NULL, ulen, have_e ? e : NULL, elen,
			      errors);
	if (have_p && have_c)
		rule_confirm(p, plen, c, clen, errors);
	if (rule_display_name(body, &dn, &dlen, errors) == 0) {
		FUZZ_CHECK(dn != NULL && utf8_codepoints(dn, dlen) <= 100);
	}
}

/* fcgi/auth_login.c's login_validate. */
static void login_body(struct json_object *body, struct json_object *errors)
{
	size_t pmax = (size_t)conf_int(CONF_PASSWORD_MAX) * 4;
	const char *ident, *pw, *dev;
	size_t ilen, plen, dlen;
	unsigned char raw[REFRESH_RAWBYTES];
	int remember = 0, rc;

	if (http_need_str(body, "usernameOrEmail", "Username or email",
			  HTTP_STR_NONEMPTY | HTTP_STR_NO_NUL, IDENT_MAX, &ident, &ilen,
			  errors) == 0) {
		FUZZ_CHECK(ilen > 0 && ilen <= IDENT_MAX && strlen(ident) == ilen);
		if (!(memchr(ident, '@', ilen) ? valid_email(ident, ilen)
					       : valid_username(ident, ilen)))
			http_errors_add(errors, "usernameOrEmail", "invalid_format", "fuzz");
	}
	if (http_need_str(body, "password", "Password", HTTP_STR_NONEMPTY, pmax, &pw, &plen,
			  errors) == 0)
		FUZZ_CHECK(plen > 0 && plen <= pmax);
	if (json_get_bool(body, "rememberMe", &remember) < 0)
		http_errors_add(errors, "rememberMe", "invalid_type", "fuzz");
	rc = json_get_str(body, "deviceToken", &dev, &dlen);
	if (rc == 0 && refresh_parse(dev, dlen, raw) == 0)
		FUZZ_CHECK(dlen == 43);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *body = NULL, *errors;
	const char *code = NULL, *message = NULL;

	if (json_parse_object((const char *)data, size, &body, &code, &message) != 0) {
		FUZZ_CHECK(code && message && body == NULL);
		return 0;
	}
	FUZZ_CHECK(json_object_is_type(body, json_type_object));
	errors = json_object_new_array();
	registration_body(body, errors);
	login_body(body, errors);
	/* what http_errors would send */
	FUZZ_CHECK(json_plain(errors) != NULL);
	json_object_put(errors);
	json_put_wiped(body);
	return 0;
}
