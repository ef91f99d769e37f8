/* fuzz_token: access token verification (lib/token.c's token_verify, with
 * jose.c's base64url and signature forms and the claims' checks), against
 * a context made once from the fixed test key below.
 *
 * Two kinds of input:
 *  - a token as sent in "Authorization: Bearer": verified as it is (most
 *    die at the header or the signature, as forgeries do);
 *  - input starting with '{': JSON that the harness signs with the key
 *    before verifying, so that the claims' checks behind the signature are
 *    reached: "HEADER\nPAYLOAD" (both JSON text), or PAYLOAD alone under
 *    the key's own header.
 * A token that passes is verified again, through the cache of tokens
 * already seen: verdict and claims must be the same; without the time
 * check, one refused only for its time passes. */
#include "config.h"

#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "jose.h"
#include "token.h"
#include "token_key.h"

/* A P-256 key made for this harness only (it signs nothing else), so
 * that the committed seeds can be real tokens. */
static const char test_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgg5wEgjNZY/7XqC9O\n"
    "kJ33e3XV9PGEDS2YX1Yc90z1LROhRANCAAQ51Sr0LdpFEW0IcotabEEsgrvvcBrK\n"
    "rS/Uv3l6SP2DOqQUjEu1gwnDKNYCo0tg8oKYAmNF1KcfVhRvBWDXi816\n"
    "-----END PRIVATE KEY-----\n";

#define FUZZ_ISS "https://auth.example"
#define FUZZ_AUD "magenta"
#define FUZZ_NOW 1800000000 /* 2027-01-15T08:00:00Z: the seeds' tokens are valid then */

static struct token_ctx ctx;
static int show;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/fuzz_token.XXXXXX", err[256];
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	if (fd < 0 || write(fd, test_key_pem, sizeof(test_key_pem) - 1) !=
			  (ssize_t)(sizeof(test_key_pem) - 1)) {
		perror("fuzz_token: key file");
		exit(1);
	}
	close(fd);
	if (token_ctx_init(&ctx, path, "ES256", FUZZ_ISS, FUZZ_AUD, 30, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_token: %s\n", err);
		unlink(path);
		exit(1);
	}
	unlink(path);
	/* FUZZ_SHOW=1: the key's header (the seeds' tokens carry it), and
	 * each input's verdict (to check the seeds) */
	show = getenv("FUZZ_SHOW") != NULL;
	if (show)
		printf("kid=%s header=%.*s\n", token_key_kid(&ctx, 0), (int)ctx.keys[0].header_len,
		       ctx.keys[0].header);
	return 0;
}

/* HEADER64.PAYLOAD64.SIG64 of data (see above) into out (cap bytes): its
 * length, or -1 when it does not fit or signing fails. */
static long sign_input(const uint8_t *data, size_t size, char *out, size_t cap)
{
	const struct token_key *k = &ctx.keys[0];
	const uint8_t *nl = memchr(data, '\n', size);
	unsigned char md[32], der[128], raw[TOKEN_ES256_SIGLEN];
	size_t o = 0, dlen = sizeof(der);
	unsigned int mdlen = 0;
	long n;

	if (nl) {
		n = jose_b64url_encode(out, cap, data, (size_t)(nl - data));
		if (n < 0)
			return -1;
		o = (size_t)n;
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	} else {
		if (k->header_len + 1 > cap)
			return -1;
		memcpy(out, k->header, k->header_len);
		o = k->header_len;
	}
	if (o + 1 >= cap)
		return -1;
	out[o++] = '.';
	n = jose_b64url_encode(out + o, cap - o, data, size);
	if (n < 0)
		return -1;
	o += (size_t)n;
	if (!EVP_Digest(out, o, md, &mdlen, EVP_sha256(), NULL) ||
	    EVP_PKEY_sign(k->sign, der, &dlen, md, sizeof(md)) <= 0 ||
	    jose_es256_der_to_raw(raw, der, dlen) != 0) {
		ERR_clear_error();
		return -1;
	}
	if (o + 1 >= cap)
		return -1;
	out[o++] = '.';
	n = jose_b64url_encode(out + o, cap - o, raw, sizeof(raw));
	if (n < 0)
		return -1;
	return (long)(o + (size_t)n);
}

/* Field by field (a struct copy need not copy padding). */
static int claims_eq(const struct token_claims *a, const struct token_claims *b)
{
	return strcmp(a->sub, b->sub) == 0 && strcmp(a->sid, b->sid) == 0 &&
	       strcmp(a->jti, b->jti) == 0 && strcmp(a->username, b->username) == 0 &&
	       a->roles == b->roles && strcmp(a->sst, b->sst) == 0 &&
	       strcmp(a->client_id, b->client_id) == 0 && strcmp(a->scope, b->scope) == 0 &&
	       a->iat == b->iat && a->nbf == b->nbf && a->exp == b->exp &&
	       strcmp(a->kid, b->kid) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_claims c1, c2;
	enum token_status s1, s2;
	char signed_tok[TOKEN_MAX + 1];
	const char *jwt = (const char *)data;
	size_t len = size;

	if (size > 0 && data[0] == '{') {
		long n = sign_input(data, size, signed_tok, sizeof(signed_tok));
		if (n < 0)
			return 0;
		jwt = signed_tok;
		len = (size_t)n;
	}
	s1 = token_verify(&ctx, jwt, len, FUZZ_NOW, 1, &c1);
	FUZZ_CHECK(token_status_text(s1) != NULL);
	if (show)
		printf("verdict=%s\n", token_status_text(s1));
	/* a refused token costs a signature check each time: checked once
	 * (the rate matters); one that passed it is in the cache of tokens
	 * seen, and must read the same from there */
	if (s1 == TOKEN_OK) {
		s2 = token_verify(&ctx, jwt, len, FUZZ_NOW, 1, &c2);
		FUZZ_CHECK(s2 == TOKEN_OK && claims_eq(&c1, &c2));
		FUZZ_CHECK(c1.sub[0] && c1.sid[0] && strcmp(c1.kid, token_key_kid(&ctx, 0)) == 0);
		FUZZ_CHECK(c1.exp > FUZZ_NOW - 30);
		FUZZ_CHECK(!c1.client_id[0] == !c1.scope[0]);
	}
	/* at logout (no time check) an expired token still counts */
	if (s1 == TOKEN_OK || s1 == TOKEN_EXPIRED || s1 == TOKEN_NOT_YET_VALID) {
		s2 = token_verify(&ctx, jwt, len, FUZZ_NOW, 0, &c2);
		FUZZ_CHECK(s2 == TOKEN_OK);
	}
	return 0;
}
