/* auth_wellknown: GET /.well-known/jwks.json and
 * GET /.well-known/openid-configuration. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conf.h"

/* Public keys change only with a restart; let verifiers cache them a while. */
#define WELLKNOWN_CACHE "public, max-age=300"

/* GET /.well-known/jwks.json: every accepted public key. */
void h_jwks(struct http_req *r)
{
	const char *jwks = token_jwks(&auth.tok);

	http_reply_text(r, 200, WELLKNOWN_CACHE, NULL, jwks, strlen(jwks));
}

/* GET /.well-known/openid-configuration: the discovery document. */
void h_openid_configuration(struct http_req *r)
{
	http_reply_text(r, 200, WELLKNOWN_CACHE, NULL, auth.openid, auth.openid_len);
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
int auth_wellknown_init(char *err, size_t errlen)
{
	static const char *const grants[] = {"password", "refresh_token", NULL};
	static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post",
						   "none", NULL};
	static const char *const confidential[] = {"client_secret_basic", "client_secret_post",
						   NULL};
	static const char *const scopes[] = {"openid", "profile", "email", NULL};
	static const char *const subjects[] = {"public", NULL};
	static const char *const claims[] = {"iss", "aud", "sub", "iat", "nbf", "exp", "jti",
					     "sid", "username", "preferred_username", "name",
					     "email", "email_verified", "updated_at", NULL};
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
	/* every algorithm among the published keys, signing key's first */
	for (size_t i = 0; i < auth.tok.nkeys; i++) {
		const char *alg = token_key_alg(&auth.tok, i);
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
	auth.openid = strdup(json_plain(o));
	json_object_put(o);
	if (!auth.openid) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	auth.openid_len = strlen(auth.openid);
	return 0;
}
