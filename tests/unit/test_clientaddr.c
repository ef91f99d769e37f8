/* Unit tests: client address behind trusted proxies. */
#include "config.h"

#include <string.h>

#include "clientaddr.h"
#include "t.h"

/* clientaddr_get into a static buffer; "" on failure. */
static const char *get(const struct clientaddr_list *l, const char *remote, const char *xff)
{
	static char out[CLIENTADDR_STRLEN];

	if (clientaddr_get(l, remote, xff, out) != 0)
		return "";
	return out;
}

/* X-Forwarded-For from a trusted peer (127.0.0.1) with ports, and the
 * client chosen. */
static const struct {
	const char *xff, *client;
} ports[] = {
    {"1.2.3.4:41234", "1.2.3.4"},
    {"[2001:db9::1]:443", "2001:db9::/64"},
    {"[2001:db9::1]", "2001:db9::/64"},
    {"6.6.6.6, 1.2.3.4:8080, 10.1.2.3:1", "1.2.3.4"},
    {"[2001:db8::7]:80", "2001:db8::/64"}, /* trusted itself: the left-most */
    {"[1.2.3.4]:80", "1.2.3.4"},
    {"1.2.3.4:", "127.0.0.1"},
    {"1.2.3.4:http", "127.0.0.1"},
    {"[2001:db9::1]:", "127.0.0.1"},
    {"[2001:db9::1", "127.0.0.1"},
    {"[2001:db9::1]x", "127.0.0.1"},
};

/* Lists parsed, addresses chosen, bad lists refused. */
int main(void)
{
	char err[200];
	struct clientaddr_list *none = clientaddr_list_parse("", err, sizeof(err));
	struct clientaddr_list *l =
	    clientaddr_list_parse("127.0.0.1, 10.0.0.0/8 2001:db8::/32", err, sizeof(err));

	CHECK(none != NULL && l != NULL);
	/* no trusted proxy: X-Forwarded-For is ignored */
	CHECK(strcmp(get(none, "192.0.2.7", "1.2.3.4"), "192.0.2.7") == 0);
	CHECK(strcmp(get(none, "::ffff:192.0.2.7", NULL), "192.0.2.7") == 0);
	/* IPv6 clients count per /64 */
	CHECK(strcmp(get(none, "2001:db8:1:2:3:4:5:6", NULL), "2001:db8:1:2::/64") == 0);
	CHECK(strcmp(get(none, "2001:db8:1:2::9", NULL), "2001:db8:1:2::/64") == 0);
	/* from an untrusted peer the header is not believed */
	CHECK(strcmp(get(l, "192.0.2.7", "1.2.3.4"), "192.0.2.7") == 0);
	/* trusted peer: right-most untrusted entry */
	CHECK(strcmp(get(l, "127.0.0.1", "1.2.3.4"), "1.2.3.4") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "6.6.6.6, 1.2.3.4"), "1.2.3.4") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "6.6.6.6, 1.2.3.4 ,10.1.2.3"), "1.2.3.4") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "1.2.3.4,10.1.2.3, 2001:db8::1"), "1.2.3.4") == 0);
	/* all trusted: the left-most */
	CHECK(strcmp(get(l, "127.0.0.1", "10.9.9.9"), "10.9.9.9") == 0);
	/* no header, empty header, garbage: the proxy itself */
	CHECK(strcmp(get(l, "127.0.0.1", NULL), "127.0.0.1") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", ""), "127.0.0.1") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "1.2.3.4, junk"), "127.0.0.1") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "1.2.3.4, 10.0.0.1, junk"), "127.0.0.1") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "junk, 10.0.0.1"), "10.0.0.1") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", " , 1.2.3.4,"), "1.2.3.4") == 0);
	CHECK(strcmp(get(l, "127.0.0.1", "2001:db9::1"), "2001:db9::/64") == 0);
	/* entries with a port, as some proxies write them; what is none of
	 * those forms stops the walk (the proxy itself) */
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		CHECK(strcmp(get(l, "127.0.0.1", ports[i].xff), ports[i].client) == 0);
	/* CIDR membership */
	CHECK(clientaddr_trusted(l, "10.255.0.1"));
	CHECK(!clientaddr_trusted(l, "11.0.0.1"));
	CHECK(clientaddr_trusted(l, "2001:db8:ffff::1"));
	CHECK(!clientaddr_trusted(l, "2001:db9::1"));
	CHECK(clientaddr_trusted(l, "::ffff:127.0.0.1"));
	CHECK(!clientaddr_trusted(l, "not-an-ip"));
	/* a REMOTE_ADDR that is no address is still reported */
	{
		char out[CLIENTADDR_STRLEN];
		CHECK(clientaddr_get(l, "unix:", NULL, out) == -1 && strcmp(out, "unix:") == 0);
	}
	/* bad lists */
	CHECK(clientaddr_list_parse("10.0.0.0/33", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "10.0.0.0/33") != NULL);
	CHECK(clientaddr_list_parse("example.com", err, sizeof(err)) == NULL);
	CHECK(clientaddr_list_parse("::1/129", err, sizeof(err)) == NULL);
	CHECK(clientaddr_list_parse("1.2.3.4/", err, sizeof(err)) == NULL);
	clientaddr_list_free(none);
	clientaddr_list_free(l);
	return t_done();
}
