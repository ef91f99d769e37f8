/* Unit tests: the device token's cookie, written and read back. */
#include "config.h"

#include <string.h>

#include "devicetoken.h"
#include "t.h"

/* What devicetoken_from_cookie finds in header: the token's text, or "". */
static const char *found(const char *header)
{
	static char out[REFRESH_STRLEN + 1];
	unsigned char raw[REFRESH_RAWBYTES];

	if (devicetoken_from_cookie(header, raw) != 0)
		return "";
	refresh_format(out, raw);
	return out;
}

/* Set-Cookie's form and limits; Cookie headers of every shape parsed. */
int main(void)
{
	char tok[REFRESH_STRLEN + 1], other[REFRESH_STRLEN + 1], line[256], hdr[512];
	unsigned char raw[REFRESH_RAWBYTES];

	if (sodium_init() < 0)
		return 99;
	refresh_new(tok, raw);
	refresh_new(other, raw);

	CHECK(devicetoken_set_cookie(line, sizeof(line), tok, 7776000) == 0);
	snprintf(hdr, sizeof(hdr),
		 "Set-Cookie: magenta_device=%s; Max-Age=7776000; Path=/api/auth/login; Secure; "
		 "HttpOnly; SameSite=Strict\r\n",
		 tok);
	CHECK(strcmp(line, hdr) == 0);
	CHECK(devicetoken_set_cookie(line, 60, tok, 60) == -1); /* does not fit */
	CHECK(devicetoken_set_cookie(line, sizeof(line), tok, 0) == -1);

	/* absent */
	CHECK(strcmp(found(NULL), "") == 0);
	CHECK(strcmp(found(""), "") == 0);
	CHECK(strcmp(found("a=b; c=d"), "") == 0);
	/* alone, among others, with spaces */
	snprintf(hdr, sizeof(hdr), "magenta_device=%s", tok);
	CHECK(strcmp(found(hdr), tok) == 0);
	snprintf(hdr, sizeof(hdr), "a=b;magenta_device=%s;c=d", tok);
	CHECK(strcmp(found(hdr), tok) == 0);
	snprintf(hdr, sizeof(hdr), "a=b ;  magenta_device = %s  ; c", tok);
	CHECK(strcmp(found(hdr), tok) == 0);
	/* names that only contain ours, or differ in case, are others */
	snprintf(hdr, sizeof(hdr), "xmagenta_device=%s; magenta_device_old=%s; Magenta_Device=%s",
		 tok, tok, tok);
	CHECK(strcmp(found(hdr), "") == 0);
	/* a value that is no token is passed over for a later one */
	snprintf(hdr, sizeof(hdr), "magenta_device=junk; magenta_device=%s!; magenta_device=%s",
		 tok, other);
	CHECK(strcmp(found(hdr), other) == 0);
	/* the first well-formed one wins */
	snprintf(hdr, sizeof(hdr), "magenta_device=%s; magenta_device=%s", other, tok);
	CHECK(strcmp(found(hdr), other) == 0);
	/* too short, too long, padded, quoted, empty */
	snprintf(hdr, sizeof(hdr), "magenta_device=%.42s", tok);
	CHECK(strcmp(found(hdr), "") == 0);
	snprintf(hdr, sizeof(hdr), "magenta_device=%sA", tok);
	CHECK(strcmp(found(hdr), "") == 0);
	snprintf(hdr, sizeof(hdr), "magenta_device=%s=", tok);
	CHECK(strcmp(found(hdr), "") == 0);
	snprintf(hdr, sizeof(hdr), "magenta_device=\"%s\"", tok);
	CHECK(strcmp(found(hdr), "") == 0);
	CHECK(strcmp(found("magenta_device=; magenta_device"), "") == 0);
	return t_done();
}
