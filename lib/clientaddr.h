/* clientaddr: which address a request comes from, for per-address limits.
 *
 * The client is REMOTE_ADDR, unless that is a trusted proxy: then it is
 * the right-most X-Forwarded-For entry that is not itself trusted (entries
 * to its left are whatever the client chose to send).  IPv6 clients are
 * counted per /64, the smallest block one subscriber usually holds. */
#ifndef MAGENTA_CLIENTADDR_H
#define MAGENTA_CLIENTADDR_H

#include <stddef.h>

#define CLIENTADDR_STRLEN 64

struct clientaddr_list;

/* Parse a list of addresses or CIDR blocks (IPv4 or IPv6) separated by
 * spaces or commas; "" gives an empty list.  NULL with err filled on a
 * bad entry.  Free with clientaddr_list_free(). */
struct clientaddr_list *clientaddr_list_parse(const char *spec, char *err, size_t errlen);

void clientaddr_list_free(struct clientaddr_list *l);

/* 1 when the textual address addr lies in l, else 0. */
int clientaddr_trusted(const struct clientaddr_list *l, const char *addr);

/* The client of a request from remote (REMOTE_ADDR) carrying xff
 * (X-Forwarded-For, may be NULL), normalized into out: IPv4 dotted quad
 * (also for IPv4-mapped IPv6), IPv6 as its /64 ("2001:db8:1:2::/64").
 * 0, or -1 when remote is not an IP address (out then holds remote,
 * truncated, so the caller can still count it). */
int clientaddr_get(const struct clientaddr_list *trusted, const char *remote, const char *xff,
		   char out[CLIENTADDR_STRLEN]);

#endif
