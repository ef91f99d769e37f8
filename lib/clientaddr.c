/* clientaddr: client address behind trusted proxies. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientaddr.h"

struct cidr {
	unsigned char addr[16]; /* IPv4 as IPv4-mapped IPv6 */
	int bits;		/* prefix length over the 128 bits */
};

struct clientaddr_list {
	struct cidr *v;
	size_t n;
};

/* Parse text as an IPv4 or IPv6 address into 16 bytes (IPv4 mapped);
 * 4 or 6 for the family, 0 when it is neither. */
static int parse_ip(const char *s, unsigned char out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		return memcmp(out, mapped, 12) == 0 ? 4 : 6;
	}
	return 0;
}

/* 1 when the first bits of a and b agree. */
static int prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		return (a[whole] & mask) == (b[whole] & mask);
	}
	return 1;
}

/* Addresses and CIDR blocks. */
struct clientaddr_list *clientaddr_list_parse(const char *spec, char *err, size_t errlen)
{
	struct clientaddr_list *l = calloc(1, sizeof(*l));
	char *copy = strdup(spec), *save = NULL, *tok;

	if (!l || !copy) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		struct cidr c, *nv;
		char *slash = strchr(tok, '/');
		int fam, max;

		if (slash)
			*slash = '\0';
		fam = parse_ip(tok, c.addr);
		max = fam == 4 ? 32 : 128;
		c.bits = max;
		if (fam && slash) {
			char *end;
			long b = strtol(slash + 1, &end, 10);
			if (*end || end == slash + 1 || b < 0 || b > max)
				fam = 0;
			c.bits = (int)b;
		}
		if (!fam) {
			if (slash)
				*slash = '/';
			snprintf(err, errlen, "'%s' is not an IP address or CIDR block", tok);
			goto fail;
		}
		if (fam == 4)
			c.bits += 96;
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		l->v = nv;
		l->v[l->n++] = c;
	}
	free(copy);
	return l;
fail:
	free(copy);
	clientaddr_list_free(l);
	return NULL;
}

/* Free the list. */
void clientaddr_list_free(struct clientaddr_list *l)
{
	if (!l)
		return;
	free(l->v);
	free(l);
}

/* Membership of parsed bytes. */
static int in_list(const struct clientaddr_list *l, const unsigned char a[16])
{
	for (size_t i = 0; l && i < l->n; i++)
		if (prefix_eq(a, l->v[i].addr, l->v[i].bits))
			return 1;
	return 0;
}

/* Membership of a textual address. */
int clientaddr_trusted(const struct clientaddr_list *l, const char *addr)
{
	unsigned char a[16];

	return parse_ip(addr, a) && in_list(l, a);
}

/* Normalized text of a parsed address. */
static void format_addr(const unsigned char a[16], int fam, char out[CLIENTADDR_STRLEN])
{
	char buf[INET6_ADDRSTRLEN];

	if (fam == 4) {
		inet_ntop(AF_INET, a + 12, out, CLIENTADDR_STRLEN);
	} else {
		unsigned char p[16] = {0};
		memcpy(p, a, 8);
		inet_ntop(AF_INET6, p, buf, sizeof(buf));
		snprintf(out, CLIENTADDR_STRLEN, "%s/64", buf);
	}
}

/* An X-Forwarded-For entry as some proxies write it, with a port:
 * "192.0.2.7:41234", "[2001:db8::1]:443" or "[2001:db8::1]": the address
 * alone, in place.  0, or -1 when the form is none of these (a bare IPv6
 * address has more than one colon and is left as it is). */
static int strip_port(char *item)
{
	char *c, *p;

	if (item[0] == '[') {
		c = strchr(item, ']');
		if (!c)
			return -1;
		p = c + 1;
		if (*p == ':')
			p++;
		else if (*p)
			return -1;
		if (p > c + 1 && !*p)
			return -1; /* "[...]:" without a port */
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return -1;
		memmove(item, item + 1, (size_t)(c - item - 1));
		item[c - item - 1] = '\0';
		return 0;
	}
	c = strchr(item, ':');
	if (c && !strchr(c + 1, ':')) { /* one colon: IPv4 with a port */
		if (!c[1])
			return -1;
		for (p = c + 1; *p; p++)
			if (*p < '0' || *p > '9')
				return -1;
		*c = '\0';
	}
	return 0;
}

/* Walk X-Forwarded-For from the right past trusted hops. */
int clientaddr_get(const struct clientaddr_list *trusted, const char *remote, const char *xff,
		   char out[CLIENTADDR_STRLEN])
{
	unsigned char a[16], e[16];
	int fam = parse_ip(remote, a);
	size_t end;

	if (!fam) {
		snprintf(out, CLIENTADDR_STRLEN, "%s", remote);
		return -1;
	}
	end = xff ? strlen(xff) : 0;
	while (in_list(trusted, a) && end > 0) {
		char item[INET6_ADDRSTRLEN + 8];
		size_t start = end, b, f;
		int efam;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		b = start, f = end;
		while (b < f && (xff[b] == ' ' || xff[b] == '\t'))
			b++;
		while (f > b && (xff[f - 1] == ' ' || xff[f - 1] == '\t'))
			f--;
		end = start ? start - 1 : 0;
		if (f == b)
			continue; /* empty entry */
		if (f - b >= sizeof(item))
			break; /* not an address: the last trusted hop is the client */
		memcpy(item, xff + b, f - b);
		item[f - b] = '\0';
		if (strip_port(item) != 0)
			break;
		efam = parse_ip(item, e);
		if (!efam)
			break;
		memcpy(a, e, 16);
		fam = efam;
	}
	format_addr(a, fam, out);
	return 0;
}
