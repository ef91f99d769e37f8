/* auth_wellknown: GET /.well-known/jwks.json and
 * GET /.well-known/openid-configuration. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conf.h"

/* Verifiers may cache both documents jwks_max_age seconds: a key rotation
 * publishes a new key twice that long before it signs (docs/oauth2.md). */
static const char *cache_control(char buf[48])
{
	snprintf(buf, 48, "public, max-age=%ld", conf_int(CONF_JWKS_MAX_AGE));
	return buf;
}

/* GET /.well-known/jwks.json: every accepted public key. */
void h_jwks(struct http_req *r)
{
	const char *jwks;
	char cc[48];

	auth_keys_check();
	jwks = token_jwks(&auth.tok);
	http_reply_text(r, 200, cache_control(cc), NULL, jwks, strlen(jwks));
}

/* GET /.well-known/openid-configuration: the discovery document. */
void h_openid_configuration(struct http_req *r)
{
	char cc[48];

	auth_keys_check();
	http_reply_text(r, 200, cache_control(cc), NULL, auth.openid, auth.openid_len);
}

/* issuer + path as a new JSON string. */
static struct json_object *url(const char *issuer, size_t ilen, const char *path)
{
	char buf[1200];

	snprintf(buf, sizeof(buf), "%.*s%s", (int)ilen, issuer, path);
	return json_object_new_string(buf);
}

/* names as a new JSON array */
static struct json_object *names(const char *const *v)
{
	struct json_object *a = json_object_new_array();

	for (; *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

/* Build the discovery document once: it depends only on configuration.
 * It lists exactly what answers (docs/oauth2.md): the OAuth 2.0 endpoints
 * of magenta-auth, the grants it takes (password, refresh_token), how
 * clients authenticate.  Magenta has no authorization endpoint (no
 * redirect-based flows), so the fields that describe one are left out
 * rather than filled with what does not exist. */
/* The document for the keys of t into *out (malloc'd); 0, or -1 with err. */
static int build(const struct token_ctx *t, char **out, size_t *outlen, char *err, size_t errlen)
{
	static const char *const grants[] = {"password", "refresh_token", NULL};
	static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post",
						   "none", NULL};
	static const char *const confidential[] = {"client_secret_basic", "client_secret_post",
						   NULL};
	static const char *const scopes[] = {"openid", "profile", "email", NULL};
	static const char *const subjects[] = {"public", NULL};
	/* the ID token's and userinfo's */
	static const char *const claims[] = {"iss", "aud", "azp", "sub", "iat", "exp", "sid",
					     "at_hash", "preferred_username", "name", "email",
					     "email_verified", "updated_at", NULL};
	static const char *const none[] = {NULL};
	const char *iss = conf_str(CONF_JWT_ISSUER);
	size_t ilen = strlen(iss);
	struct json_object *o = json_object_new_object(), *algs = json_object_new_array();

	while (ilen > 0 && iss[ilen - 1] == '/')
		ilen--;
	if (ilen > 1000) {
		json_object_put(o);
		json_object_put(algs);
		snprintf(err, errlen, "key 'jwt_issuer' is too long");
		return -1;
	}
	json_object_object_add(o, "issuer", json_object_new_string(iss));
	json_object_object_add(o, "jwks_uri", url(iss, ilen, "/.well-known/jwks.json"));
	json_object_object_add(o, "token_endpoint", url(iss, ilen, "/oauth2/token"));
	json_object_object_add(o, "introspection_endpoint", url(iss, ilen, "/oauth2/introspect"));
	json_object_object_add(o, "revocation_endpoint", url(iss, ilen, "/oauth2/revoke"));
	json_object_object_add(o, "userinfo_endpoint", url(iss, ilen, "/oauth2/userinfo"));
	json_object_object_add(o, "grant_types_supported", names(grants));
	json_object_object_add(o, "token_endpoint_auth_methods_supported", names(auth_methods));
	json_object_object_add(o, "revocation_endpoint_auth_methods_supported",
			       names(auth_methods));
	json_object_object_add(o, "introspection_endpoint_auth_methods_supported",
			       names(confidential));
	json_object_object_add(o, "scopes_supported", names(scopes));
	json_object_object_add(o, "subject_types_supported", names(subjects));
	/* required by OIDC Discovery and RFC 8414; empty: no authorization
	 * endpoint, so no response type */
	json_object_object_add(o, "response_types_supported", names(none));
	/* every algorithm among the published keys, signing key's first */
	for (size_t i = 0; i < t->nkeys; i++) {
		const char *alg = token_key_alg(t, i);
		int seen = 0;
		for (size_t j = 0; j < json_object_array_length(algs); j++)
			seen |= strcmp(json_object_get_string(json_object_array_get_idx(algs, j)),
				       alg) == 0;
		if (!seen)
			json_object_array_add(algs, json_object_new_string(alg));
	}
	json_object_object_add(o, "id_token_signing_alg_values_supported", json_object_get(algs));
	json_object_object_add(o, "access_token_signing_alg_values_supported", algs);
	json_object_object_add(o, "claims_supported", names(claims));
	*out = strdup(json_plain(o));
	json_object_put(o);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*outlen = strlen(*out);
	return 0;
}

int auth_wellknown_init(char *err, size_t errlen)
{
	return build(&auth.tok, &auth.openid, &auth.openid_len, err, errlen);
}

int auth_wellknown_rebuild(const struct token_ctx *t)
{
	char err[128], *text;
	size_t len;

	if (build(t, &text, &len, err, sizeof(err)) != 0)
		return -1;
	free(auth.openid);
	auth.openid = text;
	auth.openid_len = len;
	return 0;
}
