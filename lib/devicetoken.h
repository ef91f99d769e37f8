/* devicetoken: the device token's cookie (OWASP "device cookies").
 *
 * A device token is made, encoded and hashed as a refresh token is
 * (lib/refresh.h: 32 random bytes, 43 base64url characters, SHA-256 in the
 * database); what is its own is how it travels when device_cookie is on:
 * the cookie magenta_device, sent back only to the login endpoint. */
#ifndef MAGENTA_DEVICETOKEN_H
#define MAGENTA_DEVICETOKEN_H

#include <stddef.h>

#include "refresh.h"

#define DEVICETOKEN_COOKIE "magenta_device"
#define DEVICETOKEN_PATH "/api/auth/login"

/* The header line "Set-Cookie: magenta_device=TOKEN; Max-Age=...; Path=...;
 * Secure; HttpOnly; SameSite=Strict\r\n" into out (outlen bytes; it holds
 * the token: wipe it after use).  0, or -1 when it does not fit or
 * max_age is not positive. */
int devicetoken_set_cookie(char *out, size_t outlen, const char token[REFRESH_STRLEN + 1],
			   long max_age) __attribute__((warn_unused_result));

/* Find the first well-formed magenta_device cookie in a Cookie request
 * header (NULL: none) and decode it into raw: 0, or -1 when there is
 * none.  Other cookies, and magenta_device values that are no token
 * (a stale or foreign cookie), are passed over. */
int devicetoken_from_cookie(const char *header, unsigned char raw[REFRESH_RAWBYTES])
    __attribute__((warn_unused_result));

#endif
