/* Unit tests: OAuth 2.0 client ids, secrets and scopes (lib/oauth_client.c). */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "oauth_client.h"
#include "t.h"

static int parse(const char *s, unsigned *out)
{
	return oauth_scope_parse(s, strlen(s), out);
}

int main(void)
{
	char id[OAUTH_CLIENT_ID_STRLEN + 1], id2[OAUTH_CLIENT_ID_STRLEN + 1];
	char secret[OAUTH_SECRET_STRLEN + 1], buf[OAUTH_SCOPE_STRMAX];
	unsigned char hash[OAUTH_SECRET_HASHBYTES], again[OAUTH_SECRET_HASHBYTES];
	unsigned s = 99;

	if (sodium_init() < 0)
		return 99;
	oauth_client_id_new(id);
	oauth_client_id_new(id2);
	CHECK(strlen(id) == OAUTH_CLIENT_ID_STRLEN && strcmp(id, id2) != 0);
	CHECK(oauth_client_id_valid(id, strlen(id)));
	for (int i = 0; i < 2000; i++) {
		oauth_client_id_new(id2);
		if (id2[0] == '-' || id2[0] == '_') {
			CHECK(!"an id starts with - or _");
			break;
		}
	}
	CHECK(oauth_client_id_valid("abcdefghijklmnop", 16));
	CHECK(!oauth_client_id_valid("abcdefghijklmno", 15));
	CHECK(!oauth_client_id_valid("abcdefghijklmno!", 16));
	CHECK(!oauth_client_id_valid("abcdefghijklmno\0", 16));

	oauth_secret_new(secret, hash);
	CHECK(strlen(secret) == OAUTH_SECRET_STRLEN);
	oauth_secret_hash(secret, strlen(secret), again);
	CHECK(memcmp(hash, again, sizeof(hash)) == 0);
	secret[0] ^= 1;
	oauth_secret_hash(secret, strlen(secret), again);
	CHECK(memcmp(hash, again, sizeof(hash)) != 0);
	/* SHA-256 of "abc" (FIPS 180-2) */
	oauth_secret_hash("abc", 3, again);
	CHECK(again[0] == 0xba && again[1] == 0x78 && again[31] == 0xad);

	CHECK(parse("openid", &s) == 0 && s == OAUTH_SCOPE_OPENID);
	CHECK(parse("email openid profile", &s) == 0 && s == OAUTH_SCOPES_ALL);
	CHECK(parse("profile", &s) == 0 && s == OAUTH_SCOPE_PROFILE);
	static const char *const bad[] = { "", " ", "openid ", " openid", "openid  email",
					   "openid openid", "OpenID", "openid admin", "offline_access",
					   "openid\temail" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = 42;
		CHECK(parse(bad[i], &s) == -1 && s == 42);
	}

	CHECK(strcmp(oauth_scope_text(OAUTH_SCOPES_ALL, buf), "openid profile email") == 0);
	CHECK(strcmp(oauth_scope_text(OAUTH_SCOPE_EMAIL | OAUTH_SCOPE_OPENID, buf),
		     "openid email") == 0);
	CHECK(strcmp(oauth_scope_text(0, buf), "") == 0);
	CHECK(strcmp(oauth_scope_pg(OAUTH_SCOPES_ALL, buf), "{openid,profile,email}") == 0);
	CHECK(strcmp(oauth_scope_pg(0, buf), "{}") == 0);
	CHECK(oauth_scope_from_pg("{openid,email}", &s) == 0 &&
	      s == (OAUTH_SCOPE_OPENID | OAUTH_SCOPE_EMAIL));
	CHECK(oauth_scope_from_pg("{}", &s) == 0 && s == 0);
	CHECK(oauth_scope_from_pg("{openid,admin}", &s) == -1);
	CHECK(oauth_scope_from_pg("openid", &s) == -1);
	CHECK(oauth_scope_from_pg("{openid,}", &s) == -1);
	return t_done();
}
