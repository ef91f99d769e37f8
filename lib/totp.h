/* totp: RFC 6238 time-based one-time passwords (HMAC-SHA1, 30-second
 * steps, 6 digits, as every authenticator app computes them) and the
 * RFC 4648 base32 their secrets are shown in.
 *
 * Pure functions: no clock, no storage.  The caller keeps the secret
 * (wiped after use) and the last step accepted, which makes a code
 * single-use (totp_match refuses any step at or before it). */
#ifndef MAGENTA_TOTP_H
#define MAGENTA_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRETBYTES 20 /* 160 bits, RFC 4226's recommendation */
#define TOTP_B32LEN 32	    /* base32 of 20 bytes, no padding */
#define TOTP_PERIOD 30	    /* seconds per step */
#define TOTP_DIGITS 6
#define TOTP_WINDOW 1 /* steps accepted on either side of the current one */

/* The step of Unix time t (floor(t / TOTP_PERIOD)). */
int64_t totp_step(int64_t t);

/* RFC 4226 HOTP of key (len bytes, 1 to INT_MAX) at counter, with digits
 * digits (6 to 8): 0 with *out a number below 10^digits, or -1 (bad
 * arguments, or HMAC failed) with *out 0.  A failure is never a code. */
int totp_hotp(const unsigned char *key, size_t len, uint64_t counter, int digits, uint32_t *out)
    __attribute__((warn_unused_result));

/* Does code (exactly TOTP_DIGITS ASCII digits, len bytes) match key at
 * one of the steps now_step-TOTP_WINDOW .. now_step+TOTP_WINDOW that is
 * later than last_step (-1: none used yet)?  1 with *matched the step,
 * 0 when it does not, TOTP_ERROR when a code could not be computed (the
 * caller answers 5xx: never a match).  Every candidate is computed and
 * compared in constant time. */
#define TOTP_ERROR (-1)
int totp_match(const unsigned char *key, size_t len, const char *code, size_t clen,
	       int64_t now_step, int64_t last_step, int64_t *matched)
    __attribute__((warn_unused_result));

#ifdef TOTP_TEST_HOOKS
/* Unit tests only (never compiled into the programs): non-zero makes
 * every HMAC fail. */
extern int totp_test_fail_hmac;
#endif

/* Base32 (RFC 4648 alphabet, upper case, no padding) of len bytes into
 * out, which holds (len * 8 + 4) / 5 + 1 bytes; returns the length. */
size_t totp_base32(char *out, const unsigned char *in, size_t len);

/* Decode base32 text (case-insensitive; '=' padding and spaces ignored)
 * into out (cap bytes): the number of bytes, or -1 when text holds any
 * other character or does not fit. */
long totp_base32_decode(unsigned char *out, size_t cap, const char *text, size_t len);

#endif
