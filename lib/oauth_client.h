/* oauth_client: OAuth 2.0 clients' identifiers, secrets and scopes
 * (RFC 6749 sections 2.2, 2.3.1 and 3.3), shared by magentactl, which
 * makes clients, and magenta-auth, which authenticates them.
 *
 * A client id is 16 random bytes and a secret 32, both in base64url.  Only
 * the secret's SHA-256 is stored (table oauth_clients): 256 random bits
 * leave nothing to guess, so a slow hash would add nothing. */
#ifndef MAGENTA_OAUTH_CLIENT_H
#define MAGENTA_OAUTH_CLIENT_H

#include <stddef.h>

#define OAUTH_CLIENT_ID_STRLEN 22  /* 16 bytes */
#define OAUTH_CLIENT_ID_MAX 64     /* the longest the table accepts */
#define OAUTH_SECRET_STRLEN 43     /* 32 bytes */
#define OAUTH_SECRET_HASHBYTES 32  /* SHA-256 */

/* The scopes Magenta grants (OpenID Connect Core 5.4). */
#define OAUTH_SCOPE_OPENID 1u
#define OAUTH_SCOPE_PROFILE 2u
#define OAUTH_SCOPE_EMAIL 4u
#define OAUTH_SCOPES_ALL 7u
#define OAUTH_SCOPE_STRMAX 32 /* "openid profile email" and its PostgreSQL form */

/* A new client id. */
void oauth_client_id_new(char out[OAUTH_CLIENT_ID_STRLEN + 1]);

/* 1 when s (len bytes) has the form of a client id the table can hold. */
int oauth_client_id_valid(const char *s, size_t len);

/* A new secret into out, and its hash. */
void oauth_secret_new(char out[OAUTH_SECRET_STRLEN + 1],
		      unsigned char hash[OAUTH_SECRET_HASHBYTES]);

/* The hash of a presented secret (any bytes: a wrong one hashes to
 * something that matches nothing). */
void oauth_secret_hash(const char *secret, size_t len,
		       unsigned char hash[OAUTH_SECRET_HASHBYTES]);

/* Parse a scope parameter: names separated by single spaces (RFC 6749
 * 3.3).  0 with *scopes set, or -1 for a name Magenta does not know, an
 * empty name (two spaces, a leading or trailing one) or a name repeated. */
int oauth_scope_parse(const char *s, size_t len, unsigned *scopes);

/* The space-separated form ("openid profile email") into out. */
const char *oauth_scope_text(unsigned scopes, char out[OAUTH_SCOPE_STRMAX]);

/* PostgreSQL's text[] form ("{openid,email}") into out. */
const char *oauth_scope_pg(unsigned scopes, char out[OAUTH_SCOPE_STRMAX]);

/* Parse PostgreSQL's text[] form; 0, or -1 for a name not known. */
int oauth_scope_from_pg(const char *text, unsigned *scopes);

#endif
