/* fuzz_clientaddr: trusted proxy lists (lib/clientaddr.c's
 * clientaddr_list_parse, the trusted_proxies key) and the walk through
 * X-Forwarded-For (clientaddr_get).
 *
 * The input is split at its first newline or NUL: the trusted list, then
 * the X-Forwarded-For value; a second split gives REMOTE_ADDR (else
 * 127.0.0.1).  Properties: out is always a string of fewer than
 * CLIENTADDR_STRLEN bytes; an untrusted remote is the client itself. */
#include "config.h"

#include "clientaddr.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Cut s at its first '\n' (the NULs of the input already end it): the
 * rest, or NULL when there is none. */
static char *cut(char *s)
{
	char *nl = s ? strchr(s, '\n') : NULL;

	if (!nl)
		return NULL;
	*nl = '\0';
	return nl + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_cstr(data, size), *spec, *xff, *remote, *nul;
	char out[CLIENTADDR_STRLEN], err[256];
	struct clientaddr_list *l;
	int rc;

	if (!buf)
		return 0;
	/* a NUL splits as a newline does */
	for (nul = buf; (size_t)(nul - buf) < size; nul++)
		if (*nul == '\0')
			*nul = '\n';
	spec = buf;
	xff = cut(spec);
	remote = cut(xff);
	if (!remote)
		remote = "127.0.0.1";
	err[0] = '\0';
	l = clientaddr_list_parse(spec, err, sizeof(err));
	if (!l) {
		FUZZ_CHECK(err[0] != '\0');
		goto out;
	}
	memset(out, 'x', sizeof(out));
	rc = clientaddr_get(l, remote, xff, out);
	FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	if (rc == 0 && !clientaddr_trusted(l, remote)) {
		char again[CLIENTADDR_STRLEN];
		/* the walk stops at once: the client is remote, normalized */
		FUZZ_CHECK(clientaddr_get(l, remote, NULL, again) == 0 && strcmp(again, out) == 0);
	}
	if (xff)
		(void)clientaddr_trusted(l, xff);
	clientaddr_list_free(l);
out:
	free(buf);
	return 0;
}
