/* Unit tests: mail tokens (form, hash) and templates (rendering, the
 * message built from one). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mailtemplate.h"
#include "mailtoken.h"
#include "t.h"

/* Tokens: 43 base64url characters, new each time; the hash is the
 * BLAKE2b-256 of the text, as bytea hex; malformed tokens refused. */
static void test_tokens(void)
{
	char a[MAILTOKEN_STRLEN + 1], b[MAILTOKEN_STRLEN + 1], ha[MAILTOKEN_HASH_PGLEN + 1],
	    ha2[MAILTOKEN_HASH_PGLEN + 1], hb[MAILTOKEN_HASH_PGLEN + 1], bad[64],
	    want[MAILTOKEN_HASH_PGLEN + 1];
	unsigned char h[32];

	mailtoken_new(a);
	mailtoken_new(b);
	CHECK(strlen(a) == MAILTOKEN_STRLEN);
	CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      MAILTOKEN_STRLEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(mailtoken_hash_pg(a, strlen(a), ha) == 0);
	CHECK(mailtoken_hash_pg(a, strlen(a), ha2) == 0);
	CHECK(mailtoken_hash_pg(b, strlen(b), hb) == 0);
	CHECK(strcmp(ha, ha2) == 0);
	CHECK(strcmp(ha, hb) != 0);
	CHECK(strlen(ha) == MAILTOKEN_HASH_PGLEN && strncmp(ha, "\\x", 2) == 0);
	crypto_generichash(h, sizeof(h), (const unsigned char *)a, strlen(a), NULL, 0);
	want[0] = '\\';
	want[1] = 'x';
	sodium_bin2hex(want + 2, sizeof(want) - 2, h, sizeof(h));
	CHECK(strcmp(ha, want) == 0);

	/* one character short, one too many, a character outside base64url,
	 * padding, and the last character's unused bits set */
	CHECK(mailtoken_hash_pg(a, strlen(a) - 1, ha2) == -1 && ha2[0] == '\0');
	snprintf(bad, sizeof(bad), "%sA", a);
	CHECK(mailtoken_hash_pg(bad, strlen(bad), ha2) == -1);
	snprintf(bad, sizeof(bad), "%s", a);
	bad[10] = '+';
	CHECK(mailtoken_hash_pg(bad, strlen(bad), ha2) == -1);
	bad[10] = '=';
	CHECK(mailtoken_hash_pg(bad, strlen(bad), ha2) == -1);
	CHECK(mailtoken_hash_pg("", 0, ha2) == -1);
}

/* Rendering: every variable filled, an unknown one or a line break in a
 * value refused. */
static void test_render(void)
{
	const struct mail_var vars[] = {{"link", "https://x.test/c?token=abc"},
					{"username", "alice"}};
	const struct mail_var crlf[] = {{"link", "x\r\nBcc: evil@x.test"}};
	char err[256] = "";
	char *s;

	s = mailtemplate_render("Subject: hi {{username}}\n\n{{link}} {{link}}.", vars, 2, err,
				sizeof(err));
	CHECK(s && strcmp(s, "Subject: hi alice\n\nhttps://x.test/c?token=abc "
			     "https://x.test/c?token=abc.") == 0);
	free(s);
	s = mailtemplate_render("no variables", vars, 2, err, sizeof(err));
	CHECK(s && strcmp(s, "no variables") == 0);
	free(s);
	s = mailtemplate_render("{{usrname}}", vars, 2, err, sizeof(err));
	CHECK(!s && strstr(err, "usrname"));
	s = mailtemplate_render("{{link", vars, 2, err, sizeof(err));
	CHECK(!s);
	s = mailtemplate_render("{{link}}", crlf, 1, err, sizeof(err));
	CHECK(!s && strstr(err, "line break"));
}

/* The message: headers, CRLF line ends, the Subject encoded when not
 * ASCII, no header injection through from or to. */
static void test_message(void)
{
	static const char head[] = "From: Magenta <m@x.test>\r\nTo: alice@example.com\r\n"
				   "Subject: Confirm\r\nDate: Tue, 08 Dec 2026 00:00:00 +0000\r\n"
				   "Message-ID: <1.a@x.test>\r\n";
	char err[256] = "", addr[64];
	char *m;

	m = mailtemplate_message("Subject: Confirm\n\nline 1\nline 2", "Magenta <m@x.test>",
				 "alice@example.com", "Tue, 08 Dec 2026 00:00:00 +0000",
				 "<1.a@x.test>", err, sizeof(err));
	CHECK(m && strncmp(m, head, strlen(head)) == 0);
	CHECK(m && strstr(m, "Content-Type: text/plain; charset=utf-8\r\n"));
	CHECK(m && strstr(m, "\r\n\r\nline 1\r\nline 2\r\n"));
	CHECK(m && !strstr(m, "\r\n\r\n\r\n"));
	free(m);
	m = mailtemplate_message("Subject: Bestätigen\r\n\r\nok\r\n", "m@x.test", "a@x.test", "d",
				 "<i>", err, sizeof(err));
	CHECK(m && strstr(m, "Subject: =?UTF-8?B?QmVzdMOkdGlnZW4=?=\r\n"));
	CHECK(m && strstr(m, "\r\n\r\nok\r\n") && !strstr(m, "\r\r"));
	free(m);
	CHECK(!mailtemplate_message("no subject\n\nbody", "m@x.test", "a@x.test", "d", "<i>", err,
				    sizeof(err)));
	CHECK(!mailtemplate_message("Subject: s\n\nbody", "m@x.test", "a@x.test\r\nBcc: e@x", "d",
				    "<i>", err, sizeof(err)));

	CHECK(mailtemplate_address("Magenta <no-reply@x.test>", addr, sizeof(addr)) == 0 &&
	      strcmp(addr, "no-reply@x.test") == 0);
	CHECK(mailtemplate_address(" m@x.test ", addr, sizeof(addr)) == 0 &&
	      strcmp(addr, "m@x.test") == 0);
	CHECK(mailtemplate_address("Name <>", addr, sizeof(addr)) == -1);
	CHECK(mailtemplate_address("", addr, sizeof(addr)) == -1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 99;
	test_tokens();
	test_render();
	test_message();
	return t_done();
}
