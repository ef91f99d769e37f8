/* form: application/x-www-form-urlencoded bodies. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "form.h"
#include "validate.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..len) ('+' is a space, %XX a byte) to out, NUL-terminated;
 * the decoded length, or -1 for a malformed escape, a NUL or bad UTF-8. */
static long decode(const char *s, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (utf8_codepoints(out, o) < 0) /* also refuses a NUL */
		return -1;
	return (long)o;
}

int form_parse(const char *s, size_t len, struct form *out, const char **code,
	       const char **message)
{
	size_t used = 0, i = 0;

	memset(out, 0, sizeof(*out));
	/* decoded text is never longer than encoded; two NULs per pair */
	out->cap = len + 2 * FORM_FIELDS_MAX + 1;
	out->buf = malloc(out->cap);
	if (!out->buf) {
		*code = "out_of_memory";
		*message = "Out of memory.";
		return -1;
	}
	while (i < len) {
		const char *pair = s + i, *amp = memchr(pair, '&', len - i), *eq;
		size_t plen = amp ? (size_t)(amp - pair) : len - i, nlen;
		struct form_field *f;
		long n;

		i += plen + 1;
		if (plen == 0)
			continue;
		if (out->n == FORM_FIELDS_MAX) {
			*code = "too_many_parameters";
			*message = "The request has too many parameters.";
			return -1;
		}
		eq = memchr(pair, '=', plen);
		nlen = eq ? (size_t)(eq - pair) : plen;
		f = &out->f[out->n];
		f->name = out->buf + used;
		if ((n = decode(pair, nlen, out->buf + used)) < 0)
			goto bad;
		f->name_len = (size_t)n;
		used += (size_t)n + 1;
		f->value = out->buf + used;
		n = eq ? decode(eq + 1, plen - nlen - 1, out->buf + used)
		       : (out->buf[used] = '\0', 0);
		if (n < 0)
			goto bad;
		f->value_len = (size_t)n;
		used += (size_t)n + 1;
		for (size_t k = 0; k < out->n; k++)
			if (out->f[k].name_len == f->name_len &&
			    memcmp(out->f[k].name, f->name, f->name_len) == 0) {
				*code = "repeated_parameter";
				*message = "A parameter is given more than once.";
				return -1;
			}
		out->n++;
	}
	return 0;
bad:
	*code = "invalid_encoding";
	*message = "The request body is not valid application/x-www-form-urlencoded UTF-8.";
	return -1;
}

const char *form_get(const struct form *f, const char *name, size_t *len)
{
	size_t nlen = strlen(name);

	for (size_t k = 0; k < f->n; k++)
		if (f->f[k].name_len == nlen && memcmp(f->f[k].name, name, nlen) == 0) {
			if (len)
				*len = f->f[k].value_len;
			return f->f[k].value;
		}
	return NULL;
}

void form_free(struct form *f)
{
	if (f->buf) {
		sodium_memzero(f->buf, f->cap);
		free(f->buf);
	}
	memset(f, 0, sizeof(*f));
}
