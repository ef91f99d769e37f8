/* backoff: capped exponential delays with jitter, for reconnect loops.
 *
 * The n-th consecutive failure waits a random time in [d/2, d] where
 * d = min(cap, base * 2^n): "equal jitter" keeps a floor (no hot loop) and
 * spreads many clients that lost the same server at the same moment. */
#ifndef MAGENTA_BACKOFF_H
#define MAGENTA_BACKOFF_H

#include <stdint.h>

struct backoff {
	long base_ms;	   /* first delay */
	long cap_ms;	   /* longest delay */
	unsigned attempt;  /* consecutive failures so far */
	uint64_t until_ms; /* monotonic time before which no new try is due */
};

/* Prepare b with the given first and longest delay (milliseconds). */
void backoff_init(struct backoff *b, long base_ms, long cap_ms);

/* The delay for failure number attempt (0 = first) given a random value
 * rnd; pure, for the unit tests.  Always within [1, cap_ms]. */
long backoff_delay(long base_ms, long cap_ms, unsigned attempt, uint32_t rnd);

/* Record a failure: returns the delay chosen and sets until_ms. */
long backoff_fail(struct backoff *b);

/* Record a success: the next failure starts again at base_ms. */
void backoff_reset(struct backoff *b);

/* 1 when a new try is due (until_ms has passed), else 0. */
int backoff_due(const struct backoff *b);

/* Milliseconds until the next try is due (0 when due). */
long backoff_remaining(const struct backoff *b);

#endif
