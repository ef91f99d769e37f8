/* validate: syntax rules and the password blocklist. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* Count code points, rejecting every malformed sequence. */
long utf8_codepoints(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	long n = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t need;

		if (c == 0)
			return -1;
		if (c < 0x80) {
			i++;
			n++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (len - i <= need)
			return -1;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += need + 1;
		n++;
	}
	return n;
}

/* Letters, digits, underscore and hyphen, 3 to 50 of them. */
int valid_username(const char *s, size_t len)
{
	if (len < USERNAME_MIN || len > USERNAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-')))
			return 0;
	}
	return 1;
}

/* RFC 5322 atext. */
static int is_atext(unsigned char c)
{
	return isascii(c) && (isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL) && c != 0;
}

/* Dot-atom local part, at most 64 octets. */
static int valid_local(const char *s, size_t len)
{
	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* LDH labels, at least two, top-level label not all digits. */
static int valid_domain(const char *s, size_t len)
{
	size_t start = 0, labels = 0;
	int all_digits = 1;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			size_t l = i - start;
			if (l == 0 || l > 63 || s[start] == '-' || s[i - 1] == '-')
				return 0;
			labels++;
			all_digits = 1;
			for (size_t k = start; k < i; k++)
				if (!isdigit((unsigned char)s[k]))
					all_digits = 0;
			start = i + 1;
			continue;
		}
		if (!(isascii((unsigned char)s[i]) && (isalnum((unsigned char)s[i]) || s[i] == '-')))
			return 0;
	}
	return labels >= 2 && !all_digits;
}

/* local@domain with the rules of the header. */
int valid_email(const char *s, size_t len)
{
	const char *at;

	if (len == 0 || len > EMAIL_MAX || memchr(s, '\0', len))
		return 0;
	at = memchr(s, '@', len);
	if (!at || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
		return 0;
	return valid_local(s, (size_t)(at - s)) &&
	       valid_domain(at + 1, len - (size_t)(at - s) - 1);
}

/* ASCII case-insensitive byte comparison. */
int str_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

struct blocklist {
	char **slot; /* open addressing, NULL = empty */
	size_t cap;  /* power of two */
	size_t n;
};

/* FNV-1a over the lower-cased bytes. */
static uint64_t bl_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tolower((unsigned char)s[i]);
		h *= 1099511628211ull;
	}
	return h;
}

/* Insert a copy of s unless present; 0 or -1 on memory failure. */
static int bl_add(struct blocklist *bl, const char *s, size_t len)
{
	if ((bl->n + 1) * 2 > bl->cap) {
		size_t ncap = bl->cap ? bl->cap * 2 : 1024;
		char **nslot = calloc(ncap, sizeof(*nslot));
		if (!nslot)
			return -1;
		for (size_t i = 0; i < bl->cap; i++) {
			char *e = bl->slot[i];
			if (!e)
				continue;
			size_t j = bl_hash(e, strlen(e)) & (ncap - 1);
			while (nslot[j])
				j = (j + 1) & (ncap - 1);
			nslot[j] = e;
		}
		free(bl->slot);
		bl->slot = nslot;
		bl->cap = ncap;
	}
	size_t j = bl_hash(s, len) & (bl->cap - 1);
	while (bl->slot[j]) {
		if (str_eq_nocase(bl->slot[j], strlen(bl->slot[j]), s, len))
			return 0;
		j = (j + 1) & (bl->cap - 1);
	}
	bl->slot[j] = strndup(s, len);
	if (!bl->slot[j])
		return -1;
	bl->n++;
	return 0;
}

/* Read one file into the set. */
static int bl_load_file(struct blocklist *bl, const char *path, int skip_missing, char *err,
			size_t errlen)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f) {
		if (skip_missing && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot open blocklist '%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");
		if (len == 0 || strncmp(line, "#!comment:", 10) == 0)
			continue;
		if (bl_add(bl, line, len) != 0) {
			snprintf(err, errlen, "out of memory loading '%s'", path);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* Load every listed file. */
struct blocklist *blocklist_load(const char *paths, int skip_missing, char *err, size_t errlen)
{
	struct blocklist *bl = calloc(1, sizeof(*bl));
	char *copy = strdup(paths ? paths : ""), *save = NULL;

	if (!bl || !copy) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
		if (bl_load_file(bl, p, skip_missing, err, errlen) != 0)
			goto fail;
	free(copy);
	return bl;
fail:
	free(copy);
	blocklist_free(bl);
	return NULL;
}

/* Look pw up. */
int blocklist_contains(const struct blocklist *bl, const char *pw, size_t len)
{
	if (!bl || bl->cap == 0)
		return 0;
	size_t j = bl_hash(pw, len) & (bl->cap - 1);
	while (bl->slot[j]) {
		if (str_eq_nocase(bl->slot[j], strlen(bl->slot[j]), pw, len))
			return 1;
		j = (j + 1) & (bl->cap - 1);
	}
	return 0;
}

/* Entries in the set. */
size_t blocklist_size(const struct blocklist *bl)
{
	return bl ? bl->n : 0;
}

/* Free the set and its entries. */
void blocklist_free(struct blocklist *bl)
{
	if (!bl)
		return;
	for (size_t i = 0; i < bl->cap; i++)
		free(bl->slot[i]);
	free(bl->slot);
	free(bl);
}
