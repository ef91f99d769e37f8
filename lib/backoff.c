/* backoff: capped exponential delays with equal jitter. */
#include "config.h"

#include <sodium.h>

#include "backoff.h"
#include "clock.h"

/* Remember the bounds; nothing is due-delayed yet. */
void backoff_init(struct backoff *b, long base_ms, long cap_ms)
{
	b->base_ms = base_ms > 0 ? base_ms : 1;
	b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
	b->attempt = 0;
	b->until_ms = 0;
}

/* d = min(cap, base * 2^attempt); a value in [d/2, d] chosen by rnd. */
long backoff_delay(long base_ms, long cap_ms, unsigned attempt, uint32_t rnd)
{
	long d = base_ms > 0 ? base_ms : 1;

	if (cap_ms < d)
		cap_ms = d;
	/* double without overflowing: stop as soon as the cap is reached */
	for (unsigned i = 0; i < attempt && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	if (d > cap_ms)
		d = cap_ms;
	return d - (long)(rnd % (uint32_t)(d / 2 + 1));
}

/* One more failure: pick the next delay. */
long backoff_fail(struct backoff *b)
{
	long d = backoff_delay(b->base_ms, b->cap_ms, b->attempt, randombytes_random());

	if (b->attempt < 64)
		b->attempt++;
	b->until_ms = clock_mono_ms() + (uint64_t)d;
	return d;
}

/* Success: start over. */
void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
	b->until_ms = 0;
}

/* Has the wait passed? */
int backoff_due(const struct backoff *b)
{
	return clock_mono_ms() >= b->until_ms;
}

/* Time left to wait. */
long backoff_remaining(const struct backoff *b)
{
	uint64_t now = clock_mono_ms();
	return now >= b->until_ms ? 0 : (long)(b->until_ms - now);
}
