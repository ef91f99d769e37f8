/* token_t: what the unit tests of tokens and their keys share: a private
 * directory for key files, fresh keys, files, claims. */
#ifndef MAGENTA_TOKEN_T_H
#define MAGENTA_TOKEN_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"
#include "token_key.h"

/* The RSA public key of RFC 7638 section 3.1, whose thumbprint is known. */
static const char rfc7638_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0vx7agoebGcQSuuPiLJX\n"
    "ZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\n"
    "oc/BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ/2W+5JsGY4Hc5n9yBXArwl93lqt\n"
    "7/RN5w6Cf0h4QyQ5v+65YGjQR0/FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0\n"
    "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt+bFTWhAI4vMQFh6WeZu0f\n"
    "M4lFd2NcRwr3XPksINHaQ+G/xBniIqbw0Ls1jF44+csFCur+kEgU8awapJzKnqDK\n"
    "gwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* The private directory of the key files (mkdtemp in main). */
static char dir[] = "/tmp/test_token.XXXXXX";

/* Write a fresh key for alg to dir/name; returns the path (static buffer per call site). */
static inline const char *make_key(const char *alg, const char *name, char *path, size_t cap)
{
	char err[256];
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || token_keygen_pem(alg, f, err, sizeof(err)) != 0) {
		fprintf(stderr, "keygen %s: %s\n", alg, err);
		exit(99);
	}
	fclose(f);
	return path;
}

/* Write text to dir/name. */
static inline const char *write_file(const char *name, const char *text, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0) {
		perror(path);
		exit(99);
	}
	fclose(f);
	return path;
}

/* Fill claims valid around now. */
static inline void claims_at(struct token_claims *c, long long now)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->sub, sizeof(c->sub), "0193f1c2-0000-7000-8000-000000000001");
	snprintf(c->sid, sizeof(c->sid), "0193f1c2-0000-7000-8000-000000000002");
	snprintf(c->jti, sizeof(c->jti), "0193f1c2-0000-7000-8000-000000000003");
	snprintf(c->username, sizeof(c->username), "alice");
	c->iat = c->nbf = now;
	c->exp = now + 900;
}

#endif
