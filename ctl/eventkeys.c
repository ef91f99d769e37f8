/* eventkeys: magentactl keygen --events, the key pairs that authenticate
 * events (the relay's Ed25519 signing pair) and keep their password hashes
 * sealed (the consumer's X25519 pair); docs/events.md, "Authenticated
 * events". */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "magentactl.h"
#include "pemkey.h"

/* The first file of a ':'-separated list into buf. */
static const char *first_path(const char *list, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.*s", (int)strcspn(list, ":"), list);
	return buf;
}

/* Open a new temporary file beside path with mode; NULL with a message. */
static FILE *temp_beside(const char *path, char *tmp, size_t cap, mode_t mode)
{
	int fd;
	FILE *f;

	snprintf(tmp, cap, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp); /* 0600 */
	if (fd < 0 || fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "magentactl: keygen: cannot create '%s': %s\n", tmp,
			strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		tmp[0] = '\0';
		return NULL;
	}
	return f;
}

/* Flush, sync and close f; 0 / -1 with a message. */
static int finish(FILE *f, const char *tmp)
{
	int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;

	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "magentactl: keygen: cannot write '%s': %s\n", tmp,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Put tmp in place at path: only a missing file unless force. */
static int place(const char *tmp, const char *path, int force)
{
	if (force ? rename(tmp, path) : link(tmp, path)) {
		fprintf(stderr, "magentactl: keygen: cannot create '%s': %s%s\n", path,
			strerror(errno), errno == EEXIST ? " (use --force to replace it)" : "");
		return -1;
	}
	return 0;
}

/* Write a new pair of type: the private key (0600) to priv, the public
 * key (0644) to pub; neither is ever seen half-written. */
static int write_pair(enum pemkey_type type, const char *priv, const char *pub, int force)
{
	char tpriv[1100] = "", tpub[1100] = "", err[256];
	FILE *fpriv = NULL, *fpub = NULL;
	int rc = -1;

	if (!(fpriv = temp_beside(priv, tpriv, sizeof(tpriv), 0600)) ||
	    !(fpub = temp_beside(pub, tpub, sizeof(tpub), 0644)))
		goto out;
	if (pemkey_generate(type, fpriv, fpub, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen: %s\n", err);
		goto out;
	}
	rc = finish(fpriv, tpriv);
	fpriv = NULL;
	if (finish(fpub, tpub) != 0)
		rc = -1;
	fpub = NULL;
	if (rc == 0 && (place(tpriv, priv, force) != 0 || place(tpub, pub, force) != 0))
		rc = -1;
out:
	if (fpriv)
		fclose(fpriv);
	if (fpub)
		fclose(fpub);
	if (tpriv[0])
		unlink(tpriv);
	if (tpub[0])
		unlink(tpub);
	return rc;
}

/* Read back a public key and print its id. */
static int show(const char *what, enum pemkey_type type, const char *priv, const char *pub)
{
	unsigned char pk[PEMKEY_BYTES];
	char kid[PEMKEY_KID_LEN + 1], err[512];

	if (pemkey_read(pub, type, 0, pk, err, sizeof(err)) != 0) {
		fprintf(stderr, "magentactl: keygen: the new key does not load: %s\n", err);
		return -1;
	}
	pemkey_kid(pk, kid);
	printf("wrote %s pair %s + %s (kid %s)\n", what, priv, pub, kid);
	return 0;
}

/* keygen --events [--dir DIR] [--force] */
int cmd_keygen_events(int argc, char **argv)
{
	const char *dir = NULL;
	char sign_priv[1024], sign_pub[1024], seal_priv[1024], seal_pub[1024];
	int force = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else {
			fprintf(stderr, "magentactl: keygen --events: unknown argument '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (dir) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "magentactl: keygen: cannot create '%s': %s\n", dir,
				strerror(errno));
			return 1;
		}
		snprintf(sign_priv, sizeof(sign_priv), "%s/events-sign.pem", dir);
		snprintf(sign_pub, sizeof(sign_pub), "%s/events-sign.pub", dir);
		snprintf(seal_priv, sizeof(seal_priv), "%s/events-seal.pem", dir);
		snprintf(seal_pub, sizeof(seal_pub), "%s/events-seal.pub", dir);
	} else {
		/* where the relay and the consumer look for them */
		snprintf(sign_priv, sizeof(sign_priv), "%s", conf_str(CONF_EVENT_SIGNING_KEY));
		first_path(conf_str(CONF_EVENT_VERIFY_KEYS), sign_pub, sizeof(sign_pub));
		first_path(conf_str(CONF_EVENT_SEAL_KEYS), seal_priv, sizeof(seal_priv));
		snprintf(seal_pub, sizeof(seal_pub), "%s", conf_str(CONF_EVENT_SEAL_PUBLIC_KEY));
	}
	if (write_pair(PEMKEY_ED25519, sign_priv, sign_pub, force) != 0 ||
	    show("event signing (relay: private, consumer: public)", PEMKEY_ED25519, sign_priv,
		 sign_pub) != 0)
		return 1;
	if (write_pair(PEMKEY_X25519, seal_priv, seal_pub, force) != 0 ||
	    show("event sealing (consumer: private, relay: public)", PEMKEY_X25519, seal_priv,
		 seal_pub) != 0)
		return 1;
	return 0;
}
