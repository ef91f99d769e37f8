/* Unit tests: logfmt lines, levels, request ids, quoting. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

int main(void)
{
	char path[] = "/tmp/magenta-log-XXXXXX", q[64], line[4096];
	char lines[8][4096];
	enum log_level lvl;
	int n = 0, fd = mkstemp(path);
	FILE *f;

	if (fd < 0 || !freopen(path, "w", stderr))
		return 99;
	close(fd);

	CHECK(log_level_parse("debug", &lvl) == 0 && lvl == LOG_LVL_DEBUG);
	CHECK(log_level_parse("error", &lvl) == 0 && lvl == LOG_LVL_ERROR);
	CHECK(log_level_parse("loud", &lvl) == -1);

	/* quoting: quotes and backslashes escaped, control characters blanked */
	CHECK(strcmp(log_q(q, sizeof(q), "a \"b\" \\c\nd"), "\"a \\\"b\\\" \\\\c d\"") == 0);
	CHECK(strcmp(log_q(q, 8, "abcdefghij"), "\"abcd\"") == 0); /* truncated, still closed */
	CHECK(strcmp(log_q(q, sizeof(q), NULL), "\"\"") == 0);

	log_init("unit", LOG_LVL_INFO);
	log_debug("event=hidden");
	log_info("event=first n=%d", 1);
	log_set_request_id("req-42");
	log_warnx("event=second");
	log_set_request_id(NULL);
	errno = ENOENT;
	log_warn("event=third");
	log_error("event=fourth msg=%s", log_q(q, sizeof(q), "two words"));
	fflush(stderr);

	f = fopen(path, "r");
	if (!f)
		return 99;
	while (n < 8 && fgets(line, sizeof(line), f))
		snprintf(lines[n++], sizeof(lines[0]), "%s", line);
	fclose(f);
	unlink(path);

	CHECK(n == 4); /* debug was below the threshold */
	CHECK(strncmp(lines[0], "ts=", 3) == 0);
	CHECK(strstr(lines[0], "Z level=info service=unit event=first n=1\n") != NULL);
	CHECK(strstr(lines[0], " req=") == NULL);
	CHECK(strstr(lines[1], "level=warn service=unit req=req-42 event=second\n") != NULL);
	CHECK(strstr(lines[2], "level=warn service=unit event=third err=\"No such file or directory\"\n") != NULL);
	CHECK(strstr(lines[3], "level=error service=unit event=fourth msg=\"two words\"\n") != NULL);
	/* ts=2026-11-23T10:00:00.123Z */
	CHECK(strlen(lines[0]) > 28 && lines[0][13] == 'T' && lines[0][26] == 'Z');

	/* results go to stdout: stderr is the file under test */
	return t_done();
}
