/* jose: base64url, JSON string escaping and ES256 signature forms for JWS. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "jose.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* libsodium's encoder (it aborts on too small a buffer: checked first). */
long jose_b64url_encode(char *out, size_t cap, const void *bin, size_t len)
{
	if (cap < JOSE_B64URL_LEN(len) + 1)
		return -1;
	sodium_bin2base64(out, cap, bin, len, B64URL);
	return (long)JOSE_B64URL_LEN(len);
}

/* Encode into a fresh string. */
char *jose_b64url_dup(const void *bin, size_t len)
{
	size_t cap = JOSE_B64URL_LEN(len) + 1;
	char *s = malloc(cap);

	if (s && jose_b64url_encode(s, cap, bin, len) < 0) {
		free(s);
		s = NULL;
	}
	return s;
}

/* libsodium's decoder refuses a character outside the alphabet (no
 * b64_end: the whole input must decode), non-zero trailing bits, a
 * dangling sixth-bit group and more than cap bytes. */
long jose_b64url_decode(unsigned char *out, size_t cap, const char *s, size_t len)
{
	size_t n = 0;

	if (sodium_base642bin(out, cap, s, len, NULL, &n, NULL, B64URL) != 0)
		return -1;
	return (long)n;
}

/* Escape byte by byte; JSON needs no more for UTF-8 text. */
long jose_json_escape(char *buf, size_t cap, size_t o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 7 >= cap)
			return -1;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(buf + o, "\\u00", 4);
			buf[o + 4] = hex[c >> 4];
			buf[o + 5] = hex[c & 15];
			o += 6;
		} else {
			buf[o++] = (char)c;
		}
	}
	if (o >= cap)
		return -1;
	buf[o] = '\0';
	return (long)o;
}

/* Length and bytes, not strcmp. */
int jose_str_is(struct json_object *v, const char *want)
{
	size_t n = strlen(want);

	return json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == n &&
	       memcmp(json_object_get_string(v), want, n) == 0;
}

/* Parse SEQUENCE { INTEGER r, INTEGER s } with one-byte lengths. */
int jose_es256_der_to_raw(unsigned char raw[64], const unsigned char *der, size_t len)
{
	size_t p = 2;

	if (len < 8 || der[0] != 0x30 || der[1] != len - 2 || der[1] >= 0x80)
		return -1;
	for (int k = 0; k < 2; k++) {
		size_t n;
		const unsigned char *v;

		if (p + 2 > len || der[p] != 0x02)
			return -1;
		n = der[p + 1];
		v = der + p + 2;
		if (n == 0 || n > 33 || p + 2 + n > len)
			return -1;
		p += 2 + n;
		while (n > 0 && *v == 0) /* the sign byte and any zero padding */
			v++, n--;
		if (n > 32)
			return -1;
		memset(raw + 32 * k, 0, 32 - n);
		memcpy(raw + 32 * k + 32 - n, v, n);
	}
	return p == len ? 0 : -1;
}

/* Minimal, positive INTEGERs. */
size_t jose_es256_raw_to_der(unsigned char der[72], const unsigned char raw[64])
{
	size_t o = 2;

	der[0] = 0x30;
	for (int k = 0; k < 2; k++) {
		const unsigned char *v = raw + 32 * k;
		size_t n = 32;

		while (n > 1 && *v == 0) /* minimal: no leading zero bytes */
			v++, n--;
		der[o++] = 0x02;
		if (*v & 0x80) { /* keep it positive */
			der[o++] = (unsigned char)(n + 1);
			der[o++] = 0;
		} else {
			der[o++] = (unsigned char)n;
		}
		memcpy(der + o, v, n);
		o += n;
	}
	der[1] = (unsigned char)(o - 2);
	return o;
}
