/* ceiling: the ceilings of bench/registration.sh and bench/auth.sh,
 * measured with the code and configuration the services use.
 *
 *   ceiling pwhash PROCS SECONDS     argon2id hashes per second by PROCS
 *                                    processes (argon2_* from config), then
 *                                    per CPU second they used
 *   ceiling pwverify PROCS SECONDS   the same for verifications
 *   ceiling sign SECONDS             access tokens signed per CPU second
 *                                    (as openssl speed counts), with the
 *                                    jwt_keys signing key
 *   ceiling verify SECONDS           access tokens verified per CPU second
 *
 * Configuration: $MAGENTA_CONFIG as for the programs. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "pwhash.h"
#include "token.h"

#define BENCH_PW "BenchPassword!42"

/* Seconds since an arbitrary point. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds this process used: what openssl speed counts too, so the
 * comparison holds on a busy machine. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* PROCS processes hashing a password, or verifying it against its hash. */
static int argon2(int verify, int procs, double secs)
{
	char hash[PWHASH_STRBYTES];
	int fds[256][2];
	long total = 0;
	double t0;

	if (procs < 1 || procs > 256)
		return 2;
	if (pwhash_init((unsigned long long)conf_int(CONF_ARGON2_OPSLIMIT),
			(size_t)conf_int(CONF_ARGON2_MEMLIMIT_KIB) * 1024) != 0)
		return 1;
	if (pwhash_hash(hash, BENCH_PW, strlen(BENCH_PW)) != 0)
		return 1;
	t0 = now();
	for (int i = 0; i < procs; i++) {
		if (pipe(fds[i]) != 0)
			return 1;
		if (fork() == 0) {
			long n = 0;
			while (now() - t0 < secs) {
				char h[PWHASH_STRBYTES];

				if ((verify ? pwhash_verify(hash, BENCH_PW, strlen(BENCH_PW))
					    : pwhash_hash(h, BENCH_PW, strlen(BENCH_PW))) != 0)
					_exit(1);
				n++;
			}
			if (write(fds[i][1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < procs; i++) {
		long n = 0;
		if (read(fds[i][0], &n, sizeof(n)) == sizeof(n))
			total += n;
		wait(NULL);
	}
	{
		struct rusage ru;
		double used;

		getrusage(RUSAGE_CHILDREN, &ru);
		used = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		printf("%.1f %.1f\n", total / (now() - t0), used > 0 ? total / used : 0.0);
	}
	return 0;
}

/* Sign (or sign once and verify) for secs seconds in this process. */
static int tokens(int verify, double secs)
{
	struct token_ctx t;
	struct token_claims c, out;
	char err[512], tok[TOKEN_MAX];
	long n = 0;
	int len;
	double t0, el;

	if (token_ctx_init(&t, conf_str(CONF_JWT_KEYS), conf_str(CONF_JWT_ALG),
			   conf_str(CONF_JWT_ISSUER), conf_str(CONF_JWT_AUDIENCE),
			   conf_int(CONF_JWT_LEEWAY), err, sizeof(err)) != 0) {
		fprintf(stderr, "ceiling: %s\n", err);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "0193f1c2-0000-7000-8000-000000000001");
	snprintf(c.sid, sizeof(c.sid), "0193f1c2-0000-7000-8000-000000000002");
	snprintf(c.jti, sizeof(c.jti), "0193f1c2-0000-7000-8000-000000000003");
	snprintf(c.username, sizeof(c.username), "benchuser");
	c.iat = c.nbf = (long long)time(NULL);
	c.exp = c.iat + 900;
	len = token_sign(&t, &c, tok, sizeof(tok));
	if (len < 0)
		return 1;
	/* measure the verification itself, not the cache of tokens seen */
	free(t.seen);
	t.seen = NULL;
	t0 = cpu();
	do {
		for (int i = 0; i < 100; i++) {
			if (verify ? token_verify(&t, tok, (size_t)len, time(NULL), 1, &out) !=
					 TOKEN_OK
				   : token_sign(&t, &c, tok, sizeof(tok)) < 0)
				return 1;
		}
		n += 100;
	} while ((el = cpu() - t0) < secs);
	printf("%.1f\n", n / el);
	token_ctx_release(&t);
	return 0;
}

/* Run the mode named by argv[1]. */
int main(int argc, char **argv)
{
	char err[512];

	if (argc < 3) {
		fprintf(
		    stderr,
		    "usage: ceiling pwhash|pwverify PROCS SECONDS | sign|verify SECONDS\n");
		return 2;
	}
	if (conf_load(NULL, CONF_FOR_AUTH, err, sizeof(err)) != 0) {
		fprintf(stderr, "ceiling: %s\n", err);
		return 1;
	}
	if (strcmp(argv[1], "pwhash") == 0 && argc == 4)
		return argon2(0, atoi(argv[2]), atof(argv[3]));
	if (strcmp(argv[1], "pwverify") == 0 && argc == 4)
		return argon2(1, atoi(argv[2]), atof(argv[3]));
	if (strcmp(argv[1], "sign") == 0)
		return tokens(0, atof(argv[2]));
	if (strcmp(argv[1], "verify") == 0)
		return tokens(1, atof(argv[2]));
	fprintf(stderr, "ceiling: unknown mode '%s'\n", argv[1]);
	return 2;
}
