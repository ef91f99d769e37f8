/* Unit tests: event signatures (eventsig), sealed hashes (eventseal), the
 * key files they read (pemkey) and argon2 PHC parameters (phc). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "eventseal.h"
#include "eventsig.h"
#include "pemkey.h"
#include "phc.h"
#include "t.h"

static char dir[] = "/tmp/test_eventsig.XXXXXX";

static const char HASH[] = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2g";
static const char BODY[] = "{\"eventId\":\"e\",\"eventType\":\"UserCreated\",\"data\":"
			   "{\"username\":\"alice\",\"passwordHash\":\"$argon2id$v=19$m=19456,"
			   "t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2g\"}}";

/* Write a new pair of type as dir/NAME.pem and dir/NAME.pub. */
static int pair(enum pemkey_type type, const char *name)
{
	char priv[256], pub[256], err[256];
	FILE *a, *b;
	int rc;

	snprintf(priv, sizeof(priv), "%s/%s.pem", dir, name);
	snprintf(pub, sizeof(pub), "%s/%s.pub", dir, name);
	a = fopen(priv, "w");
	b = fopen(pub, "w");
	if (!a || !b)
		return -1;
	rc = pemkey_generate(type, a, b, err, sizeof(err));
	fclose(a);
	fclose(b);
	return rc;
}

/* dir/NAME into buf. */
static const char *path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
	return buf;
}

static void test_phc(void)
{
	struct phc_argon2 p;

	CHECK(phc_argon2_parse(HASH, &p) == 0);
	CHECK(strcmp(p.type, "argon2id") == 0 && p.m == 19456 && p.t == 2 && p.p == 1);
	CHECK(phc_argon2_parse("$argon2i$m=4096,t=3,p=1$c2FsdA$aGFzaA", &p) == 0);
	CHECK(strcmp(p.type, "argon2i") == 0 && p.m == 4096 && p.t == 3);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=262144,t=2,p=1$c2FsdA$aGFzaA", &p) == 0 &&
	      p.m == 262144);
	/* not argon2, parameters missing, out of order, not decimal, padded,
	 * absurdly large, no salt or hash, something after the hash */
	CHECK(phc_argon2_parse("$argon2d$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$2b$10$abcdefghijklmnopqrstuv", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=19456,t=2$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$t=2,m=19456,p=1$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=0x10,t=2,p=1$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=019456,t=2,p=1$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=99999999999,t=2,p=1$c2FsdA$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=19456,t=2,p=1$$aGFzaA", &p) != 0);
	CHECK(phc_argon2_parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA$x", &p) != 0);
	CHECK(phc_argon2_parse("", &p) != 0);
}

static void test_sign(void)
{
	struct eventsig_signer s, s2;
	struct eventsig_verifier v;
	char sig[EVENTSIG_B64_LEN + 1], sig2[EVENTSIG_B64_LEN + 1], p1[256], p2[256], list[600];
	char err[512];
	const char *why = NULL;
	size_t n = strlen(BODY);

	CHECK(pair(PEMKEY_ED25519, "sign") == 0);
	CHECK(pair(PEMKEY_ED25519, "sign2") == 0);
	CHECK(eventsig_signer_load(&s, path(p1, sizeof(p1), "sign.pem"), err, sizeof(err)) == 0);
	CHECK(eventsig_signer_load(&s2, path(p1, sizeof(p1), "sign2.pem"), err, sizeof(err)) == 0);
	CHECK(strlen(s.kid) == PEMKEY_KID_LEN && strcmp(s.kid, s2.kid) != 0);
	CHECK(eventsig_verifier_load(&v, path(p1, sizeof(p1), "sign.pub"), err, sizeof(err)) == 0);
	CHECK(v.n == 1 && strcmp(v.keys[0].kid, s.kid) == 0);

	CHECK(eventsig_sign(&s, "user.created", BODY, n, sig) == 0);
	CHECK(strlen(sig) == EVENTSIG_B64_LEN);
	CHECK(eventsig_verify(&v, s.kid, sig, "user.created", BODY, n, &why) == 0);
	/* another routing key, a byte more or less, another byte */
	CHECK(eventsig_verify(&v, s.kid, sig, "user.deleted", BODY, n, &why) != 0 &&
	      strcmp(why, "signature mismatch") == 0);
	CHECK(eventsig_verify(&v, s.kid, sig, "user.created", BODY, n - 1, &why) != 0);
	CHECK(eventsig_verify(&v, s.kid, sig, "user.createdx", BODY, n, &why) != 0);
	/* "user.c" + "reated{..." must not sign the same as "user.created" + "{..." */
	CHECK(eventsig_verify(&v, s.kid, sig, "user.c", "reated{", 7, &why) != 0);
	/* missing headers, an unknown key, a malformed or truncated signature */
	CHECK(eventsig_verify(&v, NULL, sig, "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "unsigned") == 0);
	CHECK(eventsig_verify(&v, s.kid, "", "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "unsigned") == 0);
	CHECK(eventsig_sign(&s2, "user.created", BODY, n, sig2) == 0);
	CHECK(eventsig_verify(&v, s2.kid, sig2, "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "unknown key id") == 0);
	CHECK(eventsig_verify(&v, s.kid, sig2, "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "signature mismatch") == 0);
	CHECK(eventsig_verify(&v, s.kid, "!", "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "malformed signature") == 0);
	sig2[40] = '\0';
	CHECK(eventsig_verify(&v, s.kid, sig2, "user.created", BODY, n, &why) != 0 &&
	      strcmp(why, "malformed signature") == 0);
	/* rotation: both keys listed, each verifies its own */
	snprintf(list, sizeof(list), "%s:%s", path(p1, sizeof(p1), "sign2.pub"),
		 path(p2, sizeof(p2), "sign.pub"));
	CHECK(eventsig_verifier_load(&v, list, err, sizeof(err)) == 0 && v.n == 2);
	CHECK(eventsig_sign(&s2, "user.created", BODY, n, sig2) == 0);
	CHECK(eventsig_verify(&v, s2.kid, sig2, "user.created", BODY, n, &why) == 0);
	CHECK(eventsig_verify(&v, s.kid, sig, "user.created", BODY, n, &why) == 0);
	/* wrong key types and missing files are refused with the file named */
	CHECK(eventsig_signer_load(&s2, path(p1, sizeof(p1), "sign.pub"), err, sizeof(err)) != 0);
	CHECK(eventsig_verifier_load(&v, "/nonexistent.pub", err, sizeof(err)) != 0 &&
	      strstr(err, "/nonexistent.pub"));
	CHECK(eventsig_verifier_load(&v, "", err, sizeof(err)) != 0);
	CHECK(pair(PEMKEY_X25519, "x") == 0);
	CHECK(eventsig_verifier_load(&v, path(p1, sizeof(p1), "x.pub"), err, sizeof(err)) != 0 &&
	      strstr(err, "not an ED25519"));
	eventsig_signer_release(&s);
	eventsig_signer_release(&s2);
}

/* The passwordHash member of a JSON body (a copy to free), or NULL. */
static char *hash_of(const char *body)
{
	struct json_object *root = json_tokener_parse(body), *d, *h;
	char *out = NULL;

	if (root && json_object_object_get_ex(root, "data", &d) &&
	    json_object_object_get_ex(d, "passwordHash", &h))
		out = strdup(json_object_get_string(h));
	json_object_put(root);
	return out;
}

static void test_seal(void)
{
	struct eventseal_sealer s, s2;
	struct eventseal_opener o;
	char p1[256], err[512], *wire, *wire2, *h, *plain;
	const char *why = NULL;
	size_t len = 0, len2 = 0;

	CHECK(pair(PEMKEY_X25519, "seal") == 0);
	CHECK(pair(PEMKEY_X25519, "seal2") == 0);
	CHECK(eventseal_sealer_load(&s, path(p1, sizeof(p1), "seal.pub"), err, sizeof(err)) == 0);
	CHECK(eventseal_sealer_load(&s2, path(p1, sizeof(p1), "seal2.pub"), err, sizeof(err)) == 0);
	CHECK(eventseal_opener_load(&o, path(p1, sizeof(p1), "seal.pem"), err, sizeof(err)) == 0);
	/* the opener derives the same public key as the file holds */
	CHECK(o.n == 1 && strcmp(o.keys[0].kid, s.kid) == 0);

	wire = eventseal_wire_body(&s, BODY, strlen(BODY), &len, err, sizeof(err));
	CHECK(wire && len == strlen(wire));
	CHECK(wire && !strstr(wire, "$argon2"));
	h = wire ? hash_of(wire) : NULL;
	CHECK(h && eventseal_is_sealed(h) && strncmp(h + 10, s.kid, PEMKEY_KID_LEN) == 0);
	plain = h ? eventseal_open(&o, h, &why) : NULL;
	CHECK(plain && strcmp(plain, HASH) == 0);
	eventseal_free_plain(plain);
	/* sealing is randomized; an already sealed body is left as it is */
	wire2 = eventseal_wire_body(&s, BODY, strlen(BODY), &len2, err, sizeof(err));
	CHECK(wire2 && strcmp(wire, wire2) != 0);
	free(wire2);
	wire2 = eventseal_wire_body(&s, wire, len, &len2, err, sizeof(err));
	CHECK(wire2 && len2 == len && memcmp(wire, wire2, len) == 0);
	free(wire2);
	/* tampered, truncated, to another key */
	if (h) {
		size_t hl = strlen(h);
		h[hl - 5] = h[hl - 5] == 'A' ? 'B' : 'A';
		CHECK(!eventseal_open(&o, h, &why) && strcmp(why, "cannot open") == 0);
		h[40] = '\0';
		CHECK(!eventseal_open(&o, h, &why));
	}
	CHECK(!eventseal_open(&o, "sealed:v1:0011", &why) &&
	      strcmp(why, "malformed sealed value") == 0);
	CHECK(!eventseal_open(&o, HASH, &why));
	free(h);
	free(wire);
	wire = eventseal_wire_body(&s2, BODY, strlen(BODY), &len, err, sizeof(err));
	h = wire ? hash_of(wire) : NULL;
	CHECK(h && !eventseal_open(&o, h, &why) && strcmp(why, "unknown key id") == 0);
	free(h);
	free(wire);
	/* nothing to seal: the same bytes; not an object: refused */
	wire =
	    eventseal_wire_body(&s, "{\"eventType\":\"UserDeleted\"}", 27, &len, err, sizeof(err));
	CHECK(wire && len == 27 && strcmp(wire, "{\"eventType\":\"UserDeleted\"}") == 0);
	free(wire);
	CHECK(!eventseal_wire_body(&s, "[1]", 3, &len, err, sizeof(err)) && err[0]);
	CHECK(!eventseal_wire_body(&s, "{\"a\":1} x", 9, &len, err, sizeof(err)));
	/* an Ed25519 key is not a seal key */
	CHECK(eventseal_opener_load(&o, path(p1, sizeof(p1), "sign.pem"), err, sizeof(err)) != 0);
	eventseal_opener_release(&o);
}

int main(void)
{
	char cmd[300];

	if (sodium_init() < 0 || !mkdtemp(dir))
		return 99;
	test_phc();
	test_sign();
	test_seal();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return t_done();
}
