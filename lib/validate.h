/* validate: input rules shared by the services (usernames, emails,
 * passwords, UTF-8) and the common-password blocklist. */
#ifndef MAGENTA_VALIDATE_H
#define MAGENTA_VALIDATE_H

#include <stddef.h>

#define USERNAME_MIN 3
#define USERNAME_MAX 50
/* The longest username in bytes anywhere: an event with a longer one is
 * poison (lib/event.c), and a token signs any this long (token.h).
 * Registration's own rule above is stricter, and may change: events are
 * checked structurally (docs/events.md). */
#define USERNAME_BYTES_MAX 255
#define EMAIL_MAX 254

_Static_assert(USERNAME_MAX <= USERNAME_BYTES_MAX, "registration allows what events refuse");

/* Number of Unicode code points in s[0..len), or -1 when s is not valid
 * UTF-8 (overlong forms, surrogates and values above U+10FFFF included)
 * or holds a NUL byte. */
long utf8_codepoints(const char *s, size_t len);

/* 1 when s is 3-50 characters of [A-Za-z0-9_-], else 0. */
int valid_username(const char *s, size_t len);

/* 1 when s is a plausible address: an ASCII local part of atext with
 * single inner dots (at most 64 octets), '@', and a domain of at least two
 * LDH labels (each 1-63 octets, no leading or trailing hyphen), at most
 * EMAIL_MAX octets in all.  Quoted local parts and address literals are
 * refused on purpose: nobody registers with them, and they complicate
 * every system downstream. */
int valid_email(const char *s, size_t len);

/* ASCII case-insensitive equality of two byte strings. */
int str_eq_nocase(const char *a, size_t alen, const char *b, size_t blen);

struct blocklist;

/* Load the files named in a ':'-separated list; missing files are skipped
 * when skip_missing is set.  Lines starting with "#!comment:" and blank
 * lines are ignored; entries compare ASCII case-insensitively.  NULL on
 * failure, with err filled.  Free with blocklist_free(). */
struct blocklist *blocklist_load(const char *paths, int skip_missing, char *err, size_t errlen);

/* 1 when pw (len bytes) is in the list. */
int blocklist_contains(const struct blocklist *bl, const char *pw, size_t len);

/* Entries loaded. */
size_t blocklist_size(const struct blocklist *bl);

void blocklist_free(struct blocklist *bl);

#endif
