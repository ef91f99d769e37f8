/* form: application/x-www-form-urlencoded bodies, the encoding of OAuth 2.0
 * requests (RFC 6749 appendix B; the WHATWG URL standard's parser, made
 * strict: a malformed escape, a NUL, invalid UTF-8 or a name given twice is
 * refused, not guessed at). */
#ifndef MAGENTA_FORM_H
#define MAGENTA_FORM_H

#include <stddef.h>

#define FORM_FIELDS_MAX 32

struct form_field {
	const char *name, *value; /* decoded, NUL-terminated */
	size_t name_len, value_len;
};

struct form {
	char *buf; /* every decoded name and value; wiped by form_free */
	size_t cap;
	struct form_field f[FORM_FIELDS_MAX];
	size_t n;
};

/* Parse the len bytes at s into *out: 0, or -1 with *code and *message
 * set ("invalid_encoding": a '%' not followed by two hex digits, a NUL,
 * invalid UTF-8; "repeated_parameter": a name given twice (RFC 6749
 * section 3.1); "too_many_parameters"; "out_of_memory").  Empty pairs
 * ("a=1&&b=2") are skipped; a pair without '=' has an empty value.
 * *out is usable (and must be freed) either way. */
int form_parse(const char *s, size_t len, struct form *out, const char **code,
	       const char **message);

/* The value of name, or NULL when it is absent; *len (when not NULL) its
 * length. */
const char *form_get(const struct form *f, const char *name, size_t *len);

/* Wipe and free (the values may be passwords or client secrets). */
void form_free(struct form *f);

#endif
