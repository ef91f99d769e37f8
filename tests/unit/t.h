/* t: the smallest test helper: CHECK() records a failure and goes on;
 * main returns t_done() (0 pass, 1 fail; 77 skip, 99 hard error by hand). */
#ifndef MAGENTA_T_H
#define MAGENTA_T_H

#include <stdio.h>

static int t_failed, t_run;

#define CHECK(cond)                                                                    \
	do {                                                                           \
		t_run++;                                                               \
		if (!(cond)) {                                                         \
			t_failed++;                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                \
		}                                                                      \
	} while (0)

static inline int t_done(void)
{
	printf("%d checks, %d failed\n", t_run, t_failed);
	return t_failed ? 1 : 0;
}

#endif
