/* oauth_client: client ids, secrets and scopes. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "oauth_client.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const struct {
	const char *name;
	unsigned bit;
} scope_table[] = {
	{ "openid", OAUTH_SCOPE_OPENID },
	{ "profile", OAUTH_SCOPE_PROFILE },
	{ "email", OAUTH_SCOPE_EMAIL },
};
#define NSCOPES (sizeof(scope_table) / sizeof(scope_table[0]))

void oauth_client_id_new(char out[OAUTH_CLIENT_ID_STRLEN + 1])
{
	unsigned char raw[16];

	/* not starting with '-' or '_': an id is typed on command lines
	 * (magentactl client remove ID), where a leading '-' reads as an
	 * option; 6 bits fewer at most of 128 */
	do {
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2base64(out, OAUTH_CLIENT_ID_STRLEN + 1, raw, sizeof(raw), B64URL);
	} while (out[0] == '-' || out[0] == '_');
}

int oauth_client_id_valid(const char *s, size_t len)
{
	if (len < 16 || len > OAUTH_CLIENT_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

void oauth_secret_new(char out[OAUTH_SECRET_STRLEN + 1],
		      unsigned char hash[OAUTH_SECRET_HASHBYTES])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, OAUTH_SECRET_STRLEN + 1, raw, sizeof(raw), B64URL);
	sodium_memzero(raw, sizeof(raw));
	oauth_secret_hash(out, OAUTH_SECRET_STRLEN, hash);
}

void oauth_secret_hash(const char *secret, size_t len,
		       unsigned char hash[OAUTH_SECRET_HASHBYTES])
{
	crypto_hash_sha256(hash, (const unsigned char *)secret, len);
}

/* The bit of the name s[0..len), or 0. */
static unsigned scope_bit(const char *s, size_t len)
{
	for (size_t i = 0; i < NSCOPES; i++)
		if (strlen(scope_table[i].name) == len && memcmp(scope_table[i].name, s, len) == 0)
			return scope_table[i].bit;
	return 0;
}

int oauth_scope_parse(const char *s, size_t len, unsigned *scopes)
{
	unsigned got = 0;
	size_t i = 0;

	while (i <= len) {
		const char *sp = memchr(s + i, ' ', len - i);
		size_t n = sp ? (size_t)(sp - (s + i)) : len - i;
		unsigned bit = scope_bit(s + i, n);

		if (!bit || (got & bit))
			return -1;
		got |= bit;
		i += n + 1;
		if (!sp)
			break;
	}
	*scopes = got;
	return 0;
}

/* The names of scopes joined by sep, between open and close. */
static const char *scope_join(unsigned scopes, char out[OAUTH_SCOPE_STRMAX], char sep,
			      const char *open, const char *close)
{
	size_t o = (size_t)snprintf(out, OAUTH_SCOPE_STRMAX, "%s", open);
	const char between[2] = { sep, '\0' };
	int first = 1;

	for (size_t i = 0; i < NSCOPES; i++)
		if (scopes & scope_table[i].bit) {
			o += (size_t)snprintf(out + o, OAUTH_SCOPE_STRMAX - o, "%s%s",
					      first ? "" : between, scope_table[i].name);
			first = 0;
		}
	snprintf(out + o, OAUTH_SCOPE_STRMAX - o, "%s", close);
	return out;
}

const char *oauth_scope_text(unsigned scopes, char out[OAUTH_SCOPE_STRMAX])
{
	return scope_join(scopes, out, ' ', "", "");
}

const char *oauth_scope_pg(unsigned scopes, char out[OAUTH_SCOPE_STRMAX])
{
	return scope_join(scopes, out, ',', "{", "}");
}

int oauth_scope_from_pg(const char *text, unsigned *scopes)
{
	size_t len = strlen(text);
	unsigned got = 0;

	if (len < 2 || text[0] != '{' || text[len - 1] != '}')
		return -1;
	text++;
	len -= 2;
	for (size_t i = 0; len > 0;) {
		const char *comma = memchr(text + i, ',', len - i);
		size_t n = comma ? (size_t)(comma - (text + i)) : len - i;
		unsigned bit = scope_bit(text + i, n);

		if (!bit)
			return -1;
		got |= bit;
		if (!comma)
			break;
		i += n + 1;
	}
	*scopes = got;
	return 0;
}
