/* phc: the cost parameters of an argon2 hash in PHC string format
 * ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), so that a hash received
 * in an event can be refused before it is ever verified: a login would
 * otherwise spend whatever memory and time the hash names. */
#ifndef MAGENTA_PHC_H
#define MAGENTA_PHC_H

struct phc_argon2 {
	char type[12];	 /* "argon2id" or "argon2i" */
	unsigned long m; /* memory, KiB */
	unsigned long t; /* iterations */
	unsigned long p; /* lanes */
};

/* Parse the type and the m, t, p parameters of an argon2 PHC string.  0,
 * or -1 when it is not one (another algorithm, a parameter missing, out of
 * order or not a decimal number, no salt or hash after them). */
int phc_argon2_parse(const char *hash, struct phc_argon2 *out);

#endif
