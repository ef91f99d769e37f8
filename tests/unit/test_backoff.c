/* Unit tests: capped exponential backoff with equal jitter. */
#include "config.h"

#include <stdint.h>

#include <sodium.h>

#include "backoff.h"
#include "t.h"

/* Every delay within [d/2, d] for d = min(cap, base * 2^attempt). */
static void test_bounds(void)
{
	static const uint32_t rnds[] = { 0, 1, 2, 7, 12345, 0x7fffffffu, 0xffffffffu };

	for (unsigned a = 0; a < 80; a++) {
		long d = 100;
		for (unsigned i = 0; i < a && d < 30000; i++)
			d = d * 2 > 30000 ? 30000 : d * 2;
		for (size_t r = 0; r < sizeof(rnds) / sizeof(rnds[0]); r++) {
			long v = backoff_delay(100, 30000, a, rnds[r]);
			CHECK(v >= d - d / 2 && v <= d);
		}
	}
	/* the extremes of the random value reach both ends */
	CHECK(backoff_delay(100, 30000, 0, 0) == 100);
	CHECK(backoff_delay(100, 30000, 0, 50) == 50);
	CHECK(backoff_delay(100, 30000, 3, 0) == 800);
	CHECK(backoff_delay(100, 30000, 30, 0) == 30000);
	CHECK(backoff_delay(100, 30000, 1000, 15000) == 15000);
}

/* Odd parameters stay sane: never 0, never above the cap, no overflow. */
static void test_edges(void)
{
	CHECK(backoff_delay(1, 1, 0, 0) == 1);
	CHECK(backoff_delay(1, 1, 5, 1) == 1);
	CHECK(backoff_delay(0, 0, 0, 0) >= 1);
	CHECK(backoff_delay(-5, 10, 3, 0) >= 1);
	CHECK(backoff_delay(5000, 100, 2, 0) == 5000); /* a cap below the base: the base */
	CHECK(backoff_delay(1L << 40, 1L << 62, 64, 0) == 1L << 62);
	CHECK(backoff_delay(3, 10, 200, 0xffffffffu) >= 5);
}

/* The state machine: failures grow the wait, success resets it. */
static void test_state(void)
{
	struct backoff b;
	long d0, d5;

	backoff_init(&b, 50, 1000);
	CHECK(backoff_due(&b));
	CHECK(backoff_remaining(&b) == 0);
	d0 = backoff_fail(&b);
	CHECK(d0 >= 25 && d0 <= 50);
	CHECK(!backoff_due(&b));
	CHECK(backoff_remaining(&b) > 0 && backoff_remaining(&b) <= 50);
	for (int i = 0; i < 4; i++)
		backoff_fail(&b);
	d5 = backoff_fail(&b); /* the sixth failure: 50 * 32 = 1600, capped */
	CHECK(d5 >= 500 && d5 <= 1000);
	CHECK(b.attempt == 6);
	backoff_reset(&b);
	CHECK(backoff_due(&b));
	CHECK(b.attempt == 0);
	d0 = backoff_fail(&b);
	CHECK(d0 >= 25 && d0 <= 50);
	/* many failures do not overflow the attempt counter */
	for (int i = 0; i < 1000; i++)
		backoff_fail(&b);
	CHECK(b.attempt <= 64);
	CHECK(backoff_remaining(&b) <= 1000);
}

/* Jitter spreads: 200 draws of the same attempt are not all equal. */
static void test_spread(void)
{
	struct backoff b;
	long lo = 1L << 30, hi = 0;

	for (int i = 0; i < 200; i++) {
		long d;
		backoff_init(&b, 1000, 60000);
		d = backoff_fail(&b);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	CHECK(hi - lo > 100);
	CHECK(lo >= 500 && hi <= 1000);
}

int main(void)
{
	if (sodium_init() < 0)
		return 99;
	test_bounds();
	test_edges();
	test_state();
	test_spread();
	return t_done();
}
