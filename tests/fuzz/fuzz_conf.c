/* fuzz_conf: the configuration file parser (lib/conf.c's conf_load_file
 * and, through it, conf_set's typed validation), fed the input as a file:
 * a memfd read back through /proc/self/fd/N.
 *
 * Properties: a refused file says why (err not empty), an accepted one
 * holds no NUL byte and leaves every key readable, integers within the
 * table's bounds. */
#define _GNU_SOURCE
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("fuzz_conf", 0);
	if (fd < 0) {
		perror("fuzz_conf: memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];

	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	conf_defaults();
	err[0] = '\0';
	if (conf_load_file(path, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(strcmp(conf_path(), path) == 0);
	/* a NUL byte hid the rest of its line (and beyond 4 KiB made a line
	 * of its own): refused since */
	FUZZ_CHECK(memchr(data, '\0', size) == NULL);
	for (int i = 0; i < CONF__COUNT; i++)
		(void)conf_is_default((enum conf_id)i);
	FUZZ_CHECK(conf_int(CONF_BODY_LIMIT) >= 256 && conf_int(CONF_BODY_LIMIT) <= 1048576);
	FUZZ_CHECK(conf_int(CONF_AMQP_PORT) >= 1 && conf_int(CONF_AMQP_PORT) <= 65535);
	FUZZ_CHECK(conf_int(CONF_JWT_LEEWAY) >= 0 && conf_int(CONF_JWT_LEEWAY) <= 600);
	FUZZ_CHECK(strcmp(conf_str(CONF_JWT_ALG), "ES256") == 0 ||
		   strcmp(conf_str(CONF_JWT_ALG), "RS256") == 0);
	FUZZ_CHECK(strcmp(conf_str(CONF_QUEUE_TYPE), "quorum") == 0 ||
		   strcmp(conf_str(CONF_QUEUE_TYPE), "classic") == 0);
	(void)conf_bool(CONF_AMQP_TLS);
	(void)conf_str(CONF_TRUSTED_PROXIES);
	return 0;
}
