/* eventsig: Ed25519 signatures over events on the wire. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventsig.h"

/* Load the relay's key. */
int eventsig_signer_load(struct eventsig_signer *s, const char *path, char *err, size_t errlen)
{
	unsigned char seed[PEMKEY_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (pemkey_read(path, PEMKEY_ED25519, 1, seed, err, errlen) != 0)
		return -1;
	if (crypto_sign_seed_keypair(pk, s->sk, seed) != 0) {
		snprintf(err, errlen, "'%s': cannot derive the key pair", path);
		goto out;
	}
	pemkey_kid(pk, s->kid);
	rc = 0;
out:
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/* Wipe the relay's key. */
void eventsig_signer_release(struct eventsig_signer *s)
{
	sodium_memzero(s, sizeof(*s));
}

/* Load the consumer's public keys. */
int eventsig_verifier_load(struct eventsig_verifier *v, const char *paths, char *err, size_t errlen)
{
	const char *p = paths;

	memset(v, 0, sizeof(*v));
	while (*p) {
		size_t len = strcspn(p, ":");
		char path[1024];

		if (len > 0) {
			if (v->n == EVENTSIG_MAX_KEYS) {
				snprintf(err, errlen, "more than %d verification keys",
					 EVENTSIG_MAX_KEYS);
				return -1;
			}
			if (len >= sizeof(path)) {
				snprintf(err, errlen, "a key path is too long");
				return -1;
			}
			memcpy(path, p, len);
			path[len] = '\0';
			if (pemkey_read(path, PEMKEY_ED25519, 0, v->keys[v->n].pk, err, errlen) !=
			    0)
				return -1;
			pemkey_kid(v->keys[v->n].pk, v->keys[v->n].kid);
			v->n++;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	if (v->n == 0) {
		snprintf(err, errlen, "no verification key configured");
		return -1;
	}
	return 0;
}

/* The signed message M of eventsig.h, malloc'ed (*mlen bytes), or NULL. */
static unsigned char *eventsig_message(const char *routing_key, const char *body, size_t len,
				       size_t *mlen)
{
	size_t klen = strlen(routing_key), clen = sizeof(EVENTSIG_CONTEXT) - 1;
	unsigned char *m;

	if (klen > 255)
		return NULL;
	*mlen = clen + 1 + klen + len;
	m = malloc(*mlen ? *mlen : 1);
	if (!m)
		return NULL;
	memcpy(m, EVENTSIG_CONTEXT, clen);
	m[clen] = (unsigned char)klen;
	memcpy(m + clen + 1, routing_key, klen);
	if (len)
		memcpy(m + clen + 1 + klen, body, len);
	return m;
}

/* Sign one message. */
int eventsig_sign(const struct eventsig_signer *s, const char *routing_key, const char *body,
		  size_t len, char sig[EVENTSIG_B64_LEN + 1])
{
	unsigned char raw[crypto_sign_BYTES];
	size_t mlen;
	unsigned char *m = eventsig_message(routing_key, body, len, &mlen);

	if (!m)
		return -1;
	crypto_sign_detached(raw, NULL, m, mlen, s->sk);
	free(m);
	sodium_bin2base64(sig, EVENTSIG_B64_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Verify one message. */
int eventsig_verify(const struct eventsig_verifier *v, const char *kid, const char *sig,
		    const char *routing_key, const char *body, size_t len, const char **why)
{
	unsigned char raw[crypto_sign_BYTES];
	size_t rawlen = 0, mlen;
	unsigned char *m;
	int ok;

	if (!kid || !sig || !*kid || !*sig) {
		*why = "unsigned";
		return -1;
	}
	if (strlen(routing_key) > 255) {
		*why = "routing key too long";
		return -1;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->keys[i].kid, kid) != 0)
			continue;
		if (sodium_base642bin(raw, sizeof(raw), sig, strlen(sig), NULL, &rawlen, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    rawlen != sizeof(raw)) {
			*why = "malformed signature";
			return -1;
		}
		m = eventsig_message(routing_key, body, len, &mlen);
		if (!m) {
			*why = "out of memory";
			return -1;
		}
		ok = crypto_sign_verify_detached(raw, m, mlen, v->keys[i].pk) == 0;
		free(m);
		if (!ok) {
			*why = "signature mismatch";
			return -1;
		}
		return 0;
	}
	*why = "unknown key id";
	return -1;
}
