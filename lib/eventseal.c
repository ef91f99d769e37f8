/* eventseal: sealing and opening the password hash of an event. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "eventseal.h"

#define HASH_MAX 512 /* as event_parse allows */

/* Load the consumer's public key. */
int eventseal_sealer_load(struct eventseal_sealer *s, const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (pemkey_read(path, PEMKEY_X25519, 0, s->pk, err, errlen) != 0)
		return -1;
	pemkey_kid(s->pk, s->kid);
	return 0;
}

/* Load the consumer's private keys. */
int eventseal_opener_load(struct eventseal_opener *o, const char *paths, char *err, size_t errlen)
{
	const char *p = paths;

	memset(o, 0, sizeof(*o));
	while (*p) {
		size_t len = strcspn(p, ":");
		char path[1024];

		if (len > 0) {
			if (o->n == EVENTSEAL_MAX_KEYS || len >= sizeof(path)) {
				snprintf(err, errlen, "too many seal keys, or a path too long");
				goto fail;
			}
			memcpy(path, p, len);
			path[len] = '\0';
			if (pemkey_read(path, PEMKEY_X25519, 1, o->keys[o->n].sk, err, errlen) != 0)
				goto fail;
			crypto_scalarmult_base(o->keys[o->n].pk, o->keys[o->n].sk);
			pemkey_kid(o->keys[o->n].pk, o->keys[o->n].kid);
			o->n++;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	if (o->n == 0) {
		snprintf(err, errlen, "no seal key configured");
		goto fail;
	}
	return 0;
fail:
	eventseal_opener_release(o);
	return -1;
}

/* Wipe the consumer's keys. */
void eventseal_opener_release(struct eventseal_opener *o)
{
	sodium_memzero(o, sizeof(*o));
}

/* Has s the sealed prefix? */
int eventseal_is_sealed(const char *s)
{
	return strncmp(s, EVENTSEAL_PREFIX, sizeof(EVENTSEAL_PREFIX) - 1) == 0;
}

/* Seal hash: the sealed value, malloc'ed, or NULL. */
static char *eventseal_seal(const struct eventseal_sealer *s, const char *hash)
{
	size_t hlen = strlen(hash), blen = hlen + crypto_box_SEALBYTES;
	size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	size_t plen = sizeof(EVENTSEAL_PREFIX) - 1 + PEMKEY_KID_LEN + 1;
	unsigned char *box = malloc(blen);
	char *out = malloc(plen + b64);

	if (!box || !out || crypto_box_seal(box, (const unsigned char *)hash, hlen, s->pk) != 0) {
		free(box);
		free(out);
		return NULL;
	}
	snprintf(out, plen + 1, "%s%s:", EVENTSEAL_PREFIX, s->kid);
	sodium_bin2base64(out + plen, b64, box, blen, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	return out;
}

/* The wire form of an outbox payload. */
char *eventseal_wire_body(const struct eventseal_sealer *s, const char *payload, size_t len,
			  size_t *outlen, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *data, *h;
	char *out = NULL, *sealed = NULL;
	const char *text;

	err[0] = '\0';
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	root = json_tokener_parse_ex(tok, payload, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "the outbox payload is not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "data", &data) ||
	    !json_object_is_type(data, json_type_object) ||
	    !json_object_object_get_ex(data, "passwordHash", &h) ||
	    !json_object_is_type(h, json_type_string) ||
	    eventseal_is_sealed(json_object_get_string(h))) {
		out = malloc(len + 1); /* nothing to seal: as it is */
		if (out) {
			memcpy(out, payload, len);
			out[len] = '\0';
			*outlen = len;
		}
		goto out;
	}
	sealed = eventseal_seal(s, json_object_get_string(h));
	if (!sealed ||
	    json_object_object_add(data, "passwordHash", json_object_new_string(sealed)) != 0)
		goto out;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text) {
		*outlen = strlen(text);
		out = strdup(text);
	}
out:
	if (!out && !err[0])
		snprintf(err, errlen, "out of memory");
	free(sealed);
	json_object_put(root);
	json_tokener_free(tok);
	return out;
}

/* Open a sealed value. */
char *eventseal_open(const struct eventseal_opener *o, const char *sealed, const char **why)
{
	const size_t plen = sizeof(EVENTSEAL_PREFIX) - 1;
	unsigned char box[HASH_MAX + crypto_box_SEALBYTES];
	size_t blen = 0, mlen;
	const char *kid, *b64;
	char *plain;

	*why = "malformed sealed value";
	if (!eventseal_is_sealed(sealed) || strlen(sealed) < plen + PEMKEY_KID_LEN + 1 ||
	    sealed[plen + PEMKEY_KID_LEN] != ':')
		return NULL;
	kid = sealed + plen;
	b64 = kid + PEMKEY_KID_LEN + 1;
	if (sodium_base642bin(box, sizeof(box), b64, strlen(b64), NULL, &blen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    blen <= crypto_box_SEALBYTES)
		return NULL;
	mlen = blen - crypto_box_SEALBYTES;
	for (size_t i = 0; i < o->n; i++) {
		if (memcmp(o->keys[i].kid, kid, PEMKEY_KID_LEN) != 0)
			continue;
		plain = malloc(mlen + 1);
		if (!plain) {
			*why = "out of memory";
			return NULL;
		}
		if (crypto_box_seal_open((unsigned char *)plain, box, blen, o->keys[i].pk,
					 o->keys[i].sk) != 0) {
			free(plain);
			*why = "cannot open";
			return NULL;
		}
		plain[mlen] = '\0';
		if (strlen(plain) != mlen) { /* a NUL inside */
			eventseal_free_plain(plain);
			*why = "malformed sealed value";
			return NULL;
		}
		return plain;
	}
	*why = "unknown key id";
	return NULL;
}

/* Wipe and free an opened hash. */
void eventseal_free_plain(char *plain)
{
	if (!plain)
		return;
	sodium_memzero(plain, strlen(plain));
	free(plain);
}
