/* jwt-libjwt: verify an access token with libjwt, an implementation
 * independent of ours, for the bats suite.
 *
 *   jwt-libjwt PUBLIC_KEY.pem ALG < token
 *
 * Exit 0 and print the claims as JSON when libjwt accepts the signature
 * and the token's alg is ALG (libjwt 1.10 takes the algorithm from the
 * token itself, so the caller must pin it); 1 when it refuses; 2 on usage
 * errors. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

/* Read all of f into a NUL-terminated buffer (caller frees), trailing
 * white space removed; NULL on failure. */
static char *slurp(FILE *f)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	if (!buf)
		return NULL;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return buf;
}

/* Verify the token on stdin with the key file, pinning the algorithm. */
int main(int argc, char **argv)
{
	FILE *kf;
	char *key, *tok, *claims;
	jwt_t *jwt = NULL;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: jwt-libjwt PUBLIC_KEY.pem ALG < token\n");
		return 2;
	}
	kf = fopen(argv[1], "r");
	if (!kf) {
		perror(argv[1]);
		return 2;
	}
	key = slurp(kf);
	fclose(kf);
	tok = slurp(stdin);
	if (!key || !tok)
		return 2;
	rc = jwt_decode(&jwt, tok, (const unsigned char *)key, (int)strlen(key));
	if (rc != 0 || !jwt) {
		fprintf(stderr, "jwt-libjwt: refused (%s)\n", strerror(rc));
		return 1;
	}
	if (jwt_get_alg(jwt) != jwt_str_alg(argv[2])) {
		fprintf(stderr, "jwt-libjwt: alg %s, expected %s\n", jwt_alg_str(jwt_get_alg(jwt)),
			argv[2]);
		jwt_free(jwt);
		return 1;
	}
	claims = jwt_get_grants_json(jwt, NULL);
	printf("%s\n", claims ? claims : "{}");
	free(claims);
	jwt_free(jwt);
	free(key);
	free(tok);
	return 0;
}
