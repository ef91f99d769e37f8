/* oauth: form bodies, client authentication and the answers of RFC 6749
 * section 5 for magenta-auth's OAuth 2.0 endpoints. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"

/* $1 client id: its secret's hash (NULL: a public client) and scopes. */
static struct db_stmt st_client = {
    "oauth_client",
    "SELECT secret_hash, scopes::text, 'password' = ANY (grants), 'refresh_token' = ANY (grants)"
    " FROM oauth_clients WHERE client_id = $1",
    1, 0};

void oauth_error(struct http_req *r, int status, const char *code, const char *description,
		 const char *extra_headers)
{
	struct json_object *o = json_object_new_object();
	char hdr[256];
	const char *text;

	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "error_description", json_object_new_string(description));
	text = json_plain(o);
	snprintf(hdr, sizeof(hdr), "Pragma: no-cache\r\n%s%s",
		 status == 401 ? "WWW-Authenticate: Basic realm=\"magenta\", charset=\"UTF-8\"\r\n"
			       : "",
		 extra_headers ? extra_headers : "");
	http_reply_text(r, status, NULL, hdr, text, strlen(text));
	json_object_put(o);
}

int oauth_form(struct http_req *r, struct form *f)
{
	const char *code, *message;

	memset(f, 0, sizeof(*f));
	if (!http_content_type_is(r->content_type, "application/x-www-form-urlencoded")) {
		oauth_error(r, 400, "invalid_request",
			    "The request body must be application/x-www-form-urlencoded.", NULL);
		return -1;
	}
	{
		/* the length checked here, so that its errors are OAuth's too */
		const char *cl = http_param(r, "CONTENT_LENGTH");
		char *end;
		unsigned long long want;

		errno = 0;
		want = cl && *cl ? strtoull(cl, &end, 10) : 0;
		if (cl && *cl && (errno || *end || cl[0] == '-')) {
			oauth_error(r, 400, "invalid_request", "Invalid Content-Length.", NULL);
			return -1;
		}
		if (want > (unsigned long long)conf_int(CONF_BODY_LIMIT)) {
			oauth_error(r, 413, "invalid_request", "The request body is too large.",
				    NULL);
			return -1;
		}
	}
	if (http_read_body(r, (size_t)conf_int(CONF_BODY_LIMIT)) != 0)
		return -1; /* replied: a body shorter than its Content-Length */
	if (form_parse(r->body, r->body_len, f, &code, &message) != 0) {
		log_info("event=oauth_bad_form reason=%s", code);
		oauth_error(r, 400, "invalid_request", message, NULL);
		return -1;
	}
	return 0;
}

const char *oauth_param(const struct form *f, const char *name, size_t *len)
{
	size_t n;
	const char *v = form_get(f, name, &n);

	if (!v || n == 0)
		return NULL;
	if (len)
		*len = n;
	return v;
}

/* Decode the form-urlencoded s[0..len) (RFC 6749 2.3.1: the client id and
 * secret are encoded so before they are joined by ':') into out; its
 * length, or -1. */
static long basic_part(const char *s, size_t len, char *out, size_t cap)
{
	struct form f;
	const char *code, *msg, *v;
	size_t n;
	char pair[160];
	long rc = -1;

	/* "v=" + s, parsed as a form: one decoder for both encodings */
	if (len + 3 > sizeof(pair) || memchr(s, '&', len) || memchr(s, '=', len))
		return -1;
	memcpy(pair, "v=", 2);
	memcpy(pair + 2, s, len);
	if (form_parse(pair, len + 2, &f, &code, &msg) == 0 && (v = form_get(&f, "v", &n)) &&
	    n < cap) {
		memcpy(out, v, n + 1);
		rc = (long)n;
	}
	form_free(&f);
	sodium_memzero(pair, sizeof(pair));
	return rc;
}

/* Read "Authorization: Basic ..." into id and secret: 0, 1 when there is
 * no Authorization header, -1 when it is not a well-formed Basic one. */
static int basic_credentials(struct http_req *r, char *id, size_t idcap, char *secret,
			     size_t scap, size_t *slen)
{
	const char *h = http_param(r, "HTTP_AUTHORIZATION"), *colon;
	unsigned char dec[160];
	size_t n = 0, hlen;
	long il, sl;
	int rc = -1;

	if (!h || !*h)
		return 1;
	if (strncasecmp(h, "Basic ", 6) != 0)
		return -1;
	h += 6;
	while (*h == ' ')
		h++;
	hlen = strcspn(h, " ");
	if (h[hlen] != '\0' && h[hlen + strspn(h + hlen, " ")] != '\0')
		return -1;
	if (sodium_base642bin(dec, sizeof(dec) - 1, h, hlen, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	dec[n] = '\0';
	colon = memchr(dec, ':', n);
	if (colon) {
		il = basic_part((const char *)dec, (size_t)(colon - (const char *)dec), id, idcap);
		sl = basic_part(colon + 1, n - (size_t)(colon + 1 - (const char *)dec), secret, scap);
		if (il > 0 && sl >= 0) {
			*slen = (size_t)sl;
			rc = 0;
		}
	}
	sodium_memzero(dec, sizeof(dec));
	return rc;
}

int oauth_client_auth(struct http_req *r, const struct form *f, struct oauth_client *c)
{
	char id[OAUTH_CLIENT_ID_MAX + 2], secret[128];
	unsigned char want[OAUTH_SECRET_HASHBYTES], got[OAUTH_SECRET_HASHBYTES];
	const char *post_id, *post_secret, *how;
	size_t idlen, slen = 0, n;
	int basic, has_secret, known, ok;
	PGresult *res;

	memset(c, 0, sizeof(*c));
	memset(got, 0, sizeof(got));
	secret[0] = '\0';
	basic = basic_credentials(r, id, sizeof(id), secret, sizeof(secret), &slen);
	/* empty parameters count as absent (RFC 6749 3.1) */
	idlen = n = 0;
	post_id = oauth_param(f, "client_id", &idlen);
	post_secret = oauth_param(f, "client_secret", &n);
	if (basic < 0) {
		oauth_error(r, 401, "invalid_client",
			    "The Authorization header is not a valid Basic one.", NULL);
		goto wipe_fail;
	}
	if (basic == 0 && post_secret) {
		oauth_error(r, 400, "invalid_request",
			    "Authenticate the client one way only: Basic or client_secret.", NULL);
		goto wipe_fail;
	}
	if (basic == 0) {
		/* a client_id in the form too must name the same client */
		if (post_id && (idlen != strlen(id) || memcmp(post_id, id, idlen) != 0)) {
			oauth_error(r, 400, "invalid_request",
				    "client_id differs from the authenticated client.", NULL);
			goto wipe_fail;
		}
		how = "basic";
		has_secret = 1;
	} else {
		if (!post_id || idlen == 0) {
			oauth_error(r, 401, "invalid_client", "Client authentication is required.",
				    NULL);
			return -1;
		}
		if (idlen > OAUTH_CLIENT_ID_MAX || (post_secret && n >= sizeof(secret))) {
			oauth_error(r, 401, "invalid_client", "Client authentication failed.", NULL);
			return -1;
		}
		memcpy(id, post_id, idlen + 1);
		has_secret = post_secret != NULL;
		if (has_secret) {
			memcpy(secret, post_secret, n + 1);
			slen = n;
		}
		how = has_secret ? "post" : "none";
	}
	idlen = strlen(id);
	if (!oauth_client_id_valid(id, idlen)) {
		log_info("event=oauth_client_failed reason=malformed_id via=%s", how);
		oauth_error(r, 401, "invalid_client", "Client authentication failed.", NULL);
		goto wipe_fail;
	}
	{
		const char *p[] = {id};
		res = db_exec_stmt(&auth.db, &st_client, p, 1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_client");
		PQclear(res);
		goto wipe_fail;
	}
	known = PQntuples(res) == 1;
	c->public = known && PQgetisnull(res, 0, 0);
	/* hashed and compared whatever the client, so the time does not tell
	 * an unknown client from a wrong secret */
	memset(want, 0xa5, sizeof(want));
	if (known && !c->public &&
	    auth_bytea_get(want, sizeof(want), PQgetvalue(res, 0, 0)) != 0)
		known = 0;
	oauth_secret_hash(has_secret ? secret : "", has_secret ? slen : 0, got);
	ok = sodium_memcmp(want, got, sizeof(want)) == 0;
	if (known && (c->public ? has_secret : !has_secret || !ok))
		known = 0;
	if (known) {
		c->password_grant = PQgetvalue(res, 0, 2)[0] == 't';
		c->refresh_grant = PQgetvalue(res, 0, 3)[0] == 't';
	}
	if (known && oauth_scope_from_pg(PQgetvalue(res, 0, 1), &c->scopes) != 0) {
		log_error("event=oauth_client_failed reason=unknown_scope client=%s", id);
		known = 0;
	}
	PQclear(res);
	if (!known) {
		log_info("event=oauth_client_failed client=%s via=%s", id, how);
		oauth_error(r, 401, "invalid_client", "Client authentication failed.", NULL);
		goto wipe_fail;
	}
	memcpy(c->id, id, idlen + 1);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(got, sizeof(got));
	return 0;
wipe_fail:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(got, sizeof(got));
	return -1;
}

int oauth_scope_request(struct http_req *r, const char *param, size_t len, unsigned allowed,
			unsigned *scopes)
{
	unsigned want;

	if (!param) {
		*scopes = allowed;
		return 0;
	}
	if (oauth_scope_parse(param, len, &want) != 0 || (want & ~allowed)) {
		oauth_error(r, 400, "invalid_scope",
			    "The scope is unknown, malformed, or more than this client (or this "
			    "grant) may have.",
			    NULL);
		return -1;
	}
	*scopes = want;
	return 0;
}

void oauth_reply_tokens(struct http_req *r, const struct oauth_client *c, unsigned scopes,
			const struct auth_user *u, const char *sid,
			const char refresh[REFRESH_STRLEN + 1], long refresh_expires_in)
{
	char tok[TOKEN_MAX], id_token[TOKEN_MAX], scope[OAUTH_SCOPE_STRMAX];
	struct json_object *o;
	const char *text;
	long long now = (long long)time(NULL);
	int n = auth_sign_access(u, sid, c->id, oauth_scope_text(scopes, scope), tok, sizeof(tok));
	int idn = 0;

	(void)refresh_expires_in;
	if (n >= 0 && (scopes & OAUTH_SCOPE_OPENID)) {
		/* OIDC Core 3.1.3.3: an ID token for the openid scope, valid as
		 * long as the access token it comes with */
		struct token_id_claims ic = {u->id, sid, c->id, now, now + conf_int(CONF_ACCESS_TTL),
					     tok, (size_t)n};

		idn = token_sign_id(&auth.tok, &ic, id_token, sizeof(id_token));
		if (idn < 0)
			log_error("event=token_sign_failed user=%s msg=\"id token\"", u->id);
		else
			metrics_token(METRICS_TOKEN_ID);
	}
	if (n < 0 || idn < 0) {
		http_error(r, 500, "internal_error", "Internal error.", NULL);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "access_token", json_object_new_string_len(tok, n));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(conf_int(CONF_ACCESS_TTL)));
	json_object_object_add(o, "refresh_token", json_object_new_string(refresh));
	json_object_object_add(o, "scope", json_object_new_string(scope));
	if (idn > 0)
		json_object_object_add(o, "id_token", json_object_new_string_len(id_token, idn));
	text = json_plain(o);
	r->secret_reply = 1;
	http_reply_text(r, 200, NULL, "Pragma: no-cache\r\n", text, strlen(text));
	json_put_wiped_sent(o, text);
out:
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(id_token, sizeof(id_token));
}
