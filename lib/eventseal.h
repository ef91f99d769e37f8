/* eventseal: the password hash of an event is sealed on the wire
 * (docs/events.md, "Authenticated events").
 *
 * The relay seals data.passwordHash to the consumer's X25519 public key
 * (libsodium crypto_box_seal) before it publishes, so a queue bound by
 * anyone else, the DLQ, or a copy of the broker's disk show no hash.  The
 * sealed value is a string "sealed:v1:<key id>:<base64 of the sealed box>"
 * in place of the hash; only the consumer, which holds the private key,
 * opens it. */
#ifndef MAGENTA_EVENTSEAL_H
#define MAGENTA_EVENTSEAL_H

#include <stddef.h>

#include <sodium.h>

#include "pemkey.h"

#define EVENTSEAL_PREFIX "sealed:v1:"
#define EVENTSEAL_MAX_KEYS 8

/* The relay's copy of the consumer's public key. */
struct eventseal_sealer {
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	char kid[PEMKEY_KID_LEN + 1];
};

/* The consumer's private keys (rotation: several at once). */
struct eventseal_opener {
	size_t n;
	struct {
		unsigned char pk[crypto_box_PUBLICKEYBYTES];
		unsigned char sk[crypto_box_SECRETKEYBYTES];
		char kid[PEMKEY_KID_LEN + 1];
	} keys[EVENTSEAL_MAX_KEYS];
};

/* Load the X25519 public key PEM file path.  0 / -1 with err. */
int eventseal_sealer_load(struct eventseal_sealer *s, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Load the ':'-separated X25519 private key PEM files of paths (at least
 * one).  0 / -1 with err. */
int eventseal_opener_load(struct eventseal_opener *o, const char *paths, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Wipe the private keys. */
void eventseal_opener_release(struct eventseal_opener *o);

/* 1 when s has the sealed form's prefix. */
int eventseal_is_sealed(const char *s);

/* The wire form of an outbox payload (JSON, len bytes): the same event
 * with data.passwordHash sealed (one already sealed is left alone).  A
 * payload without data.passwordHash comes back as it is.  malloc'ed, NUL
 * terminated, *outlen bytes; the caller frees it.  NULL with err when the
 * payload is not a JSON object or out of memory. */
char *eventseal_wire_body(const struct eventseal_sealer *s, const char *payload, size_t len,
			  size_t *outlen, char *err, size_t errlen);

/* Open a sealed value: the hash, malloc'ed (free it with
 * eventseal_free_plain), or NULL with *why a fixed text ("malformed sealed
 * value", "unknown key id", "cannot open"). */
char *eventseal_open(const struct eventseal_opener *o, const char *sealed, const char **why);

/* Wipe and free what eventseal_open returned (NULL is fine). */
void eventseal_free_plain(char *plain);

#endif
