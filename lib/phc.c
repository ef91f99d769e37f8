/* phc: argon2 PHC string parameters. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "phc.h"

/* Read "name=<decimal>" at *s, advancing past it; 0 / -1. */
static int phc_param(const char **s, char name, unsigned long *out)
{
	const char *p = *s;
	unsigned long v = 0;
	int digits = 0;

	if (p[0] != name || p[1] != '=')
		return -1;
	for (p += 2; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 10)
			return -1; /* well beyond any sane cost */
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (digits == 0 || (digits > 1 && (*s)[2] == '0'))
		return -1;
	*out = v;
	*s = p;
	return 0;
}

/* Parse an argon2 PHC string. */
int phc_argon2_parse(const char *hash, struct phc_argon2 *out)
{
	const char *s = hash;
	const char *dollar;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "$argon2id$", 10) == 0) {
		snprintf(out->type, sizeof(out->type), "argon2id");
		s += 10;
	} else if (strncmp(s, "$argon2i$", 9) == 0) {
		snprintf(out->type, sizeof(out->type), "argon2i");
		s += 9;
	} else {
		return -1;
	}
	if (strncmp(s, "v=19$", 5) == 0)
		s += 5; /* the version is optional in PHC strings */
	if (phc_param(&s, 'm', &out->m) != 0 || *s++ != ',' || phc_param(&s, 't', &out->t) != 0 ||
	    *s++ != ',' || phc_param(&s, 'p', &out->p) != 0 || *s++ != '$')
		return -1;
	/* a salt, a '$', a hash: both non-empty */
	dollar = strchr(s, '$');
	if (!dollar || dollar == s || dollar[1] == '\0' || strchr(dollar + 1, '$'))
		return -1;
	return 0;
}
