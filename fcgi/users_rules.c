/* users_rules: the rules a user's fields obey, at registration and at
 * every later change (docs/registration.md "Validation"). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "registration.h"

int rule_username(const char *s, size_t len, struct json_object *errors)
{
	if (valid_username(s, len))
		return 0;
	http_errors_add(errors, "username", "invalid_format",
			"Username must be 3 to 50 characters: letters, digits, '_' or '-'.");
	return -1;
}

int rule_email(const char *s, size_t len, char lc[EMAIL_MAX + 1], struct json_object *errors)
{
	if (!valid_email(s, len)) {
		http_errors_add(errors, "email", "invalid_format",
				"Email must be a valid address of at most 254 characters.");
		return -1;
	}
	for (size_t i = 0; i <= len; i++)
		lc[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	return 0;
}

int rule_password(const char *pw, size_t plen, const char *field, const char *username,
		  size_t ulen, const char *email, size_t elen, struct json_object *errors)
{
	char msg[160];
	long cps = utf8_codepoints(pw, plen);

	if (cps < conf_int(CONF_PASSWORD_MIN)) {
		snprintf(msg, sizeof(msg), "Password must be at least %ld characters.",
			 conf_int(CONF_PASSWORD_MIN));
		http_errors_add(errors, field, "too_short", msg);
	} else if (cps > conf_int(CONF_PASSWORD_MAX)) {
		snprintf(msg, sizeof(msg), "Password must be at most %ld characters.",
			 conf_int(CONF_PASSWORD_MAX));
		http_errors_add(errors, field, "too_long", msg);
	} else if (blocklist_contains(reg.blocked, pw, plen)) {
		http_errors_add(errors, field, "common_password",
				"Password is too common; choose another.");
	} else if ((username && str_eq_nocase(pw, plen, username, ulen)) ||
		   (email && str_eq_nocase(pw, plen, email, elen))) {
		http_errors_add(errors, field, "matches_identity",
				"Password must not be your username or email.");
	} else {
		return 0;
	}
	return -1;
}

int rule_confirm(const char *pw, size_t plen, const char *confirm, size_t clen,
		 struct json_object *errors)
{
	if (plen == clen && sodium_memcmp(pw, confirm, plen) == 0)
		return 0;
	http_errors_add(errors, "confirmPassword", "mismatch",
			"Password confirmation does not match the password.");
	return -1;
}

int rule_display_name(struct json_object *body, const char **dn, size_t *dlen,
		      struct json_object *errors)
{
	int rc = json_get_str(body, "displayName", dn, dlen);
	long cps;

	if (rc < 0) {
		http_errors_add(errors, "displayName", "invalid_type", "Display name must be a string.");
		return -1;
	}
	if (rc == 1) {
		*dn = NULL;
		*dlen = 0;
		return json_object_object_get_ex(body, "displayName", NULL) ? 1 : 2;
	}
	cps = utf8_codepoints(*dn, *dlen);
	if (cps < 0 || cps > 100) {
		http_errors_add(errors, "displayName", "invalid_format",
				"Display name must be at most 100 characters.");
		return -1;
	}
	for (size_t i = 0; i < *dlen; i++)
		if ((unsigned char)(*dn)[i] < 0x20 || (unsigned char)(*dn)[i] == 0x7f) {
			http_errors_add(errors, "displayName", "invalid_characters",
					"Display name must not contain control characters.");
			return -1;
		}
	if (*dlen == 0) {
		*dn = NULL;
		return 1;
	}
	return 0;
}
