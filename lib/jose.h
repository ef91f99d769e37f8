/* jose: the encodings of JSON Web Signatures (RFC 7515, 7518) that tokens
 * and keys share: base64url without padding (libsodium's constant-time
 * codec, the project's only one), JSON string escaping for the texts we
 * sign, whole-string comparison of JSON strings, and ES256 signatures
 * between libcrypto's DER and JWS's r || s. */
#ifndef MAGENTA_JOSE_H
#define MAGENTA_JOSE_H

#include <stddef.h>

struct json_object;

/* Characters of the base64url (no padding) form of n bytes, without the NUL. */
#define JOSE_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* base64url without padding of bin (len bytes) into out (cap bytes, room
 * for JOSE_B64URL_LEN(len) + 1), NUL-terminated: the length written, or -1
 * when cap is too small (out is then untouched). */
long jose_b64url_encode(char *out, size_t cap, const void *bin, size_t len);

/* The same into a fresh string the caller frees; NULL when out of memory. */
char *jose_b64url_dup(const void *bin, size_t len);

/* Strictly decode base64url s (len bytes: no padding, no other character,
 * no white space, zero trailing bits, not one character too many) into out
 * (at most cap bytes): the decoded length, or -1.  On -1, out may have been
 * written to. */
long jose_b64url_decode(unsigned char *out, size_t cap, const char *s, size_t len)
    __attribute__((warn_unused_result));

/* Append s to buf (cap bytes) at offset o as JSON string content (no
 * quotes: '"' and '\' escaped, control characters as \u00XX, the rest as
 * is), NUL-terminated: the new offset, or -1 when it does not fit. */
long jose_json_escape(char *buf, size_t cap, size_t o, const char *s)
    __attribute__((warn_unused_result));

/* Is v a JSON string equal to want over its whole length (a "\u0000"
 * inside v does not end it early, as it would for strcmp)?  1 or 0; 0 for
 * NULL or another type. */
int jose_str_is(struct json_object *v, const char *want);

/* An ES256 signature in DER (a SEQUENCE of two INTEGERs, as libcrypto
 * makes it; only the short length form, at most 33 bytes an integer) into
 * JWS form, r || s of 32 bytes each (RFC 7518 3.4): 0, or -1 when der is
 * not exactly that. */
int jose_es256_der_to_raw(unsigned char raw[64], const unsigned char *der, size_t len)
    __attribute__((warn_unused_result));

/* The reverse: r || s to minimal DER in der (72 bytes at most); the DER
 * length. */
size_t jose_es256_raw_to_der(unsigned char der[72], const unsigned char raw[64]);

#endif
