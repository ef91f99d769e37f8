/* keygen: magentactl keygen, a new access token signing key, and
 * keygen --public, the JWKS of the keys for verifiers; and magentactl
 * hash-password, an argon2id hash for seeding test users. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "keyring.h"
#include "magentactl.h"
#include "pwhash.h"
#include "token.h"
#include "token_key.h"

/* The first file of the ':'-separated jwt_keys into buf. */
static const char *first_key_path(char *buf, size_t cap)
{
	const char *keys = conf_str(CONF_JWT_KEYS);

	snprintf(buf, cap, "%.*s", (int)strcspn(keys, ":"), keys);
	return buf;
}

/* Create the directory of path (one level, of mode) when it is missing. */
static int make_parent(const char *path, mode_t mode)
{
	char copy[1024], *dir;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (mkdir(dir, mode) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "magentactl: keygen: cannot create '%s': %s\n", dir, strerror(errno));
	return -1;
}

/* Write to a temporary file beside out (mode: its permissions), then link
 * it into place: out is never seen half-written, and an existing file is
 * only replaced with --force. */
int ctl_write_atomic(const char *out, mode_t mode, int force, ctl_write_fn fn, const void *arg)
{
	char tmp[1100], err[512];
	FILE *f;
	int fd, rc = -1;

	if (make_parent(out, mode & 0044 ? 0755 : 0700) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out);
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		fprintf(stderr, "magentactl: keygen: cannot create '%s': %s\n", tmp,
			strerror(errno));
		return -1;
	}
	if (mode != 0600 && fchmod(fd, mode) != 0) {
		fprintf(stderr, "magentactl: keygen: cannot chmod '%s': %s\n", tmp,
			strerror(errno));
		close(fd);
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		goto out;
	}
	if (fn(f, arg, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen: %s\n", err);
		fclose(f);
		goto out;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fprintf(stderr, "magentactl: keygen: cannot write '%s': %s\n", tmp,
			strerror(errno));
		fclose(f);
		goto out;
	}
	fclose(f);
	if (force ? rename(tmp, out) : link(tmp, out)) {
		fprintf(stderr, "magentactl: keygen: cannot create '%s': %s%s\n", out,
			strerror(errno), errno == EEXIST ? " (use --force to replace it)" : "");
		goto out;
	}
	rc = 0;
out:
	unlink(tmp); /* after link(); after rename() it is already gone */
	return rc;
}

/* ctl_write_fn: a new private key of algorithm arg. */
int ctl_write_private(FILE *f, const void *arg, char *err, size_t errlen)
{
	return token_keygen_pem(arg, f, err, errlen);
}

/* ctl_write_fn: the text arg and a newline. */
int ctl_write_text(FILE *f, const void *arg, char *err, size_t errlen)
{
	if (fputs(arg, f) < 0 || fputc('\n', f) == EOF) {
		snprintf(err, errlen, "cannot write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* keygen --public [--out FILE|-] [--force] (argv[0] is "--public"): the
 * JWKS of jwt_keys, the text GET /.well-known/jwks.json serves, for
 * verifiers (jwt_public_keys of the registration service); mode 0644. */
static int cmd_keygen_public(int argc, char **argv)
{
	const char *out = conf_str(CONF_JWT_PUBLIC_KEYS);
	char err[512], paths[KEYRING_MAX * 1100];
	int force = 0, rc = 1;
	struct token_ctx t, v;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(argv[i], "--force") == 0) {
			force = 1;
		} else {
			fprintf(stderr, "magentactl: keygen --public: unknown argument '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (!*out || strchr(out, ':')) {
		fprintf(stderr,
			"magentactl: keygen --public: '%s' is not one file (give --out FILE)\n",
			out);
		return 2;
	}
	/* the keys as magenta-auth loads them */
	if (ctl_jwt_key_paths(paths, sizeof(paths), err, sizeof(err)) != 0 ||
	    token_ctx_init(&t, paths, ctl_jwt_sign_alg(), "-", "-", 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen --public: %s\n", err);
		return 1;
	}
	if (strcmp(out, "-") == 0) {
		if (ctl_write_text(stdout, token_jwks(&t), err, sizeof(err)) != 0 ||
		    fflush(stdout) != 0) {
			fprintf(stderr, "magentactl: keygen --public: %s\n", err);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (ctl_write_atomic(out, 0644, force, ctl_write_text, token_jwks(&t)) != 0)
		goto out;
	/* load it back as the registration service will */
	if (token_ctx_init_verify(&v, out, "-", "-", 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen --public: '%s' does not load: %s\n", out, err);
		goto out;
	}
	printf("wrote the public keys of jwt_keys to %s (%zu, signing kid %s)\n", out, v.nkeys,
	       token_key_kid(&v, 0));
	token_ctx_release(&v);
	rc = 0;
out:
	token_ctx_release(&t);
	return rc;
}

/* keygen [--alg ES256|RS256] [--out FILE|-] [--force] */
int cmd_keygen(int argc, char **argv)
{
	const char *alg = conf_str(CONF_JWT_ALG), *out = NULL;
	char def[1024], err[512];
	int force = 0;
	struct token_ctx t;

	if (argc > 1 && strcmp(argv[1], "--events") == 0)
		return cmd_keygen_events(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "--public") == 0)
		return cmd_keygen_public(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc)
			alg = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else {
			fprintf(stderr, "magentactl: keygen: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0) {
		fprintf(stderr, "magentactl: keygen: --alg must be ES256 or RS256\n");
		return 2;
	}
	if (!out)
		out = first_key_path(def, sizeof(def));
	if (strcmp(out, "-") == 0) {
		if (token_keygen_pem(alg, stdout, err, sizeof(err)) != 0) {
			fprintf(stderr, "magentactl: keygen: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (ctl_write_atomic(out, 0600, force, ctl_write_private, alg) != 0)
		return 1;
	/* load it back as magenta-auth will, and show its kid */
	if (token_ctx_init(&t, out, alg, "-", "-", 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen: the new key does not load: %s\n", err);
		return 1;
	}
	printf("wrote %s key %s (kid %s)\n", alg, out, token_key_kid(&t, 0));
	token_ctx_release(&t);
	return 0;
}

/* hash-password: read a password from standard input (one trailing
 * newline removed) and print its argon2id hash with the configured cost. */
int cmd_hash_password(int argc, char **argv)
{
	char pw[4097], hash[PWHASH_STRBYTES];
	size_t n;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr,
			"magentactl: hash-password takes no arguments (password on stdin)\n");
		return 2;
	}
	n = fread(pw, 1, sizeof(pw) - 1, stdin);
	if (ferror(stdin) || !feof(stdin)) {
		fprintf(stderr,
			"magentactl: hash-password: cannot read the password (at most %zu bytes)\n",
			sizeof(pw) - 1);
		return 1;
	}
	if (n > 0 && pw[n - 1] == '\n')
		n--;
	if (n > 0 && pw[n - 1] == '\r')
		n--;
	if (pwhash_init((unsigned long long)conf_int(CONF_ARGON2_OPSLIMIT),
			(size_t)conf_int(CONF_ARGON2_MEMLIMIT_KIB) * 1024) != 0 ||
	    pwhash_hash(hash, pw, n) != 0) {
		fprintf(stderr, "magentactl: hash-password: hashing failed\n");
		sodium_memzero(pw, sizeof(pw));
		return 1;
	}
	sodium_memzero(pw, sizeof(pw));
	printf("%s\n", hash);
	return 0;
}
