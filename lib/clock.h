/* clock: the monotonic clock every timer, deadline and backoff reads.
 *
 * CLOCK_MONOTONIC never jumps (NTP steps, a changed date): durations and
 * deadlines measured on it stay right.  Wall-clock time (timestamps in
 * tokens, events, logs) is time(2)'s business, not this module's. */
#ifndef MAGENTA_CLOCK_H
#define MAGENTA_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (from an arbitrary origin). */
uint64_t clock_mono_ms(void);

/* Seconds on the monotonic clock, with its sub-second part. */
double clock_mono(void);

#endif
