/* eventsig: Ed25519 signatures over events on the wire (docs/events.md,
 * "Authenticated events").
 *
 * The relay signs, the consumer verifies before it parses.  What is signed
 * is the message M = "magenta-event-v1" (16 bytes) || one byte, the length
 * of the routing key || the routing key || the body, exactly as sent; the
 * signature travels base64-encoded in the AMQP header x-magenta-signature,
 * the signing key's id (pemkey_kid of its public key) in x-magenta-key-id.
 * So a message cannot be forged, altered, or moved to another routing key
 * by anyone without the relay's private key, whatever their broker
 * permissions. */
#ifndef MAGENTA_EVENTSIG_H
#define MAGENTA_EVENTSIG_H

#include <stddef.h>

#include <sodium.h>

#include "pemkey.h"

#define EVENTSIG_HEADER_SIG "x-magenta-signature"
#define EVENTSIG_HEADER_KID "x-magenta-key-id"
#define EVENTSIG_CONTEXT "magenta-event-v1"
#define EVENTSIG_B64_LEN 88 /* base64 of 64 bytes, without the NUL */
#define EVENTSIG_MAX_KEYS 8

/* The relay's signing key. */
struct eventsig_signer {
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char kid[PEMKEY_KID_LEN + 1];
};

/* The consumer's accepted public keys (rotation: several at once). */
struct eventsig_verifier {
	size_t n;
	struct {
		unsigned char pk[crypto_sign_PUBLICKEYBYTES];
		char kid[PEMKEY_KID_LEN + 1];
	} keys[EVENTSIG_MAX_KEYS];
};

/* Load the Ed25519 private key PEM file path.  0 / -1 with err. */
int eventsig_signer_load(struct eventsig_signer *s, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Wipe the key. */
void eventsig_signer_release(struct eventsig_signer *s);

/* Load the ':'-separated Ed25519 public key PEM files of paths (at most
 * EVENTSIG_MAX_KEYS, at least one).  0 / -1 with err. */
int eventsig_verifier_load(struct eventsig_verifier *v, const char *paths, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Sign body (len bytes) for routing_key (at most 255 bytes): the base64
 * signature into sig.  0 / -1 (a routing key too long, out of memory). */
int eventsig_sign(const struct eventsig_signer *s, const char *routing_key, const char *body,
		  size_t len, char sig[EVENTSIG_B64_LEN + 1]) __attribute__((warn_unused_result));

/* Verify a message: kid and sig as received (NULL when the header was
 * missing).  0 when a known key signed exactly this body for this routing
 * key; -1 with *why set to a fixed text ("unsigned", "unknown key id",
 * "malformed signature", "signature mismatch"). */
int eventsig_verify(const struct eventsig_verifier *v, const char *kid, const char *sig,
		    const char *routing_key, const char *body, size_t len, const char **why)
    __attribute__((warn_unused_result));

#endif
