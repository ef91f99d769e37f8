/* clock: CLOCK_MONOTONIC in milliseconds and in seconds. */
#include "config.h"

#include <time.h>

#include "clock.h"

/* CLOCK_MONOTONIC in whole milliseconds. */
uint64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CLOCK_MONOTONIC in seconds. */
double clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
