/* hostlist: a comma-separated list of broker addresses, "host:port,..."
 * (the amqp_hosts key), an IPv6 address written "[addr]:port".
 *
 * Pure parsing, no I/O: the configuration validates the key with it at
 * load time, and lib/mq.c walks the parsed list when it connects. */
#ifndef MAGENTA_HOSTLIST_H
#define MAGENTA_HOSTLIST_H

#include <stddef.h>

#define HOSTLIST_MAX 16	      /* most entries in one list */
#define HOSTLIST_HOST_MAX 256 /* longest host, with its NUL */

struct hostlist_entry {
	char host[HOSTLIST_HOST_MAX]; /* name or address, without brackets */
	int port;		      /* 1..65535 */
};

/* Parse spec into out[0..max-1]: white space around entries is ignored,
 * an empty spec is an empty list.  Returns the number of entries, or -1
 * with err saying which entry is wrong and why (no port, port out of
 * range, empty entry, unbalanced brackets, too many entries). */
int hostlist_parse(const char *spec, struct hostlist_entry *out, int max, char *err, size_t errlen);

#endif
