/* Unit tests: username, email and UTF-8 rules, the blocklist. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "validate.h"

#define S(x) x, sizeof(x) - 1

int main(void)
{
	char path[] = "/tmp/magenta-bl-XXXXXX", err[256];
	struct blocklist *bl;
	FILE *f;
	int fd;

	/* UTF-8 */
	CHECK(utf8_codepoints(S("abc")) == 3);
	CHECK(utf8_codepoints(S("h\xc3\xa9llo")) == 5);           /* é */
	CHECK(utf8_codepoints(S("\xe2\x82\xac")) == 1);           /* € */
	CHECK(utf8_codepoints(S("\xf0\x9f\x98\x80")) == 1);       /* emoji */
	CHECK(utf8_codepoints(S("\xc3")) == -1);                   /* truncated */
	CHECK(utf8_codepoints(S("\xc0\xaf")) == -1);               /* overlong '/' */
	CHECK(utf8_codepoints(S("\xe0\x80\xaf")) == -1);           /* overlong */
	CHECK(utf8_codepoints(S("\xed\xa0\x80")) == -1);           /* surrogate */
	CHECK(utf8_codepoints(S("\xf4\x90\x80\x80")) == -1);       /* > U+10FFFF */
	CHECK(utf8_codepoints(S("\xff")) == -1);
	CHECK(utf8_codepoints(S("a\0b")) == -1);                   /* NUL */
	CHECK(utf8_codepoints(S("")) == 0);

	/* usernames */
	CHECK(valid_username(S("abc")));
	CHECK(valid_username(S("Test_User-42")));
	CHECK(!valid_username(S("ab")));
	CHECK(valid_username(S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))); /* 50 */
	CHECK(!valid_username(S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))); /* 51 */
	CHECK(!valid_username(S("with space")));
	CHECK(!valid_username(S("dot.name")));
	CHECK(!valid_username(S("caf\xc3\xa9")));
	CHECK(!valid_username(S("a\0bc")));

	/* emails */
	CHECK(valid_email(S("test@example.com")));
	CHECK(valid_email(S("First.Last+tag@sub.example.co.uk")));
	CHECK(valid_email(S("o'brien@example.ie")));
	CHECK(!valid_email(S("plainaddress")));
	CHECK(!valid_email(S("@example.com")));
	CHECK(!valid_email(S("user@")));
	CHECK(!valid_email(S("user@localhost")));
	CHECK(!valid_email(S("user@@example.com")));
	CHECK(!valid_email(S("a@b@example.com")));
	CHECK(!valid_email(S(".user@example.com")));
	CHECK(!valid_email(S("user.@example.com")));
	CHECK(!valid_email(S("us..er@example.com")));
	CHECK(!valid_email(S("user@-example.com")));
	CHECK(!valid_email(S("user@example-.com")));
	CHECK(!valid_email(S("user@exa_mple.com")));
	CHECK(!valid_email(S("user@example..com")));
	CHECK(!valid_email(S("user@1.2.3.4")));
	CHECK(!valid_email(S("us er@example.com")));
	CHECK(!valid_email(S("us\"er@example.com")));
	CHECK(!valid_email(S("j\xc3\xb6rg@example.com")));
	{
		char local[70], addr[300];
		memset(local, 'a', 64);
		local[64] = '\0';
		snprintf(addr, sizeof(addr), "%s@example.com", local);
		CHECK(valid_email(addr, strlen(addr)));
		local[64] = 'a';
		local[65] = '\0';
		snprintf(addr, sizeof(addr), "%s@example.com", local);
		CHECK(!valid_email(addr, strlen(addr))); /* local part > 64 */
		/* 254 octets accepted, 255 refused */
		memset(addr, 0, sizeof(addr));
		snprintf(addr, sizeof(addr), "a@");
		for (int i = 0; i < 4; i++)
			strncat(addr, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.", 63);
		/* 2 + 4*62 = 250; add "ccom" pieces to reach 254 */
		strncat(addr, "comm", 5);
		CHECK(strlen(addr) == 254);
		CHECK(valid_email(addr, strlen(addr)));
		strncat(addr, "m", 2);
		CHECK(!valid_email(addr, strlen(addr)));
	}

	CHECK(str_eq_nocase(S("Alice"), S("aLICE")));
	CHECK(!str_eq_nocase(S("Alice"), S("Alic")));

	/* blocklist: comments skipped, case-insensitive, several files */
	fd = mkstemp(path);
	if (fd < 0)
		return 99;
	f = fdopen(fd, "w");
	fputs("#!comment: header\nCorrectHorseBattery\r\n\nhunter2hunter2\n", f);
	fclose(f);
	{
		char paths[200];
		snprintf(paths, sizeof(paths), "%s:/nonexistent/file", path);
		bl = blocklist_load(paths, 1, err, sizeof(err));
		CHECK(bl != NULL);
		CHECK(blocklist_size(bl) == 2);
		CHECK(blocklist_contains(bl, S("correcthorsebattery")));
		CHECK(blocklist_contains(bl, S("HUNTER2HUNTER2")));
		CHECK(!blocklist_contains(bl, S("#!comment: header")));
		CHECK(!blocklist_contains(bl, S("something else entirely")));
		blocklist_free(bl);
		/* a missing file is an error unless skipping is allowed */
		bl = blocklist_load(paths, 0, err, sizeof(err));
		CHECK(bl == NULL);
		CHECK(strstr(err, "/nonexistent/file") != NULL);
	}
	/* many entries force the table to grow */
	f = fopen(path, "w");
	for (int i = 0; i < 5000; i++)
		fprintf(f, "entry-%d\n", i);
	fclose(f);
	bl = blocklist_load(path, 0, err, sizeof(err));
	CHECK(bl && blocklist_size(bl) == 5000);
	CHECK(bl && blocklist_contains(bl, S("ENTRY-4999")));
	CHECK(bl && !blocklist_contains(bl, S("entry-5000")));
	blocklist_free(bl);
	unlink(path);
	return t_done();
}
