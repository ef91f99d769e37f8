/* pwhash-rate: the ceiling for registration throughput — how many argon2id
 * hashes per second P processes make with the configured parameters.
 * usage: pwhash-rate PROCS SECONDS   (reads argon2_* from the configuration) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "pwhash.h"

/* Seconds since an arbitrary point. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int procs = argc > 1 ? atoi(argv[1]) : 1;
	double secs = argc > 2 ? atof(argv[2]) : 5;
	int fds[256][2];
	long total = 0;
	double t0;
	char err[256];

	if (procs < 1 || procs > 256 || secs <= 0) {
		fprintf(stderr, "usage: pwhash-rate PROCS SECONDS\n");
		return 2;
	}
	if (conf_load(NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "pwhash-rate: %s\n", err);
		return 1;
	}
	if (pwhash_init((unsigned long long)conf_int(CONF_ARGON2_OPSLIMIT),
			(size_t)conf_int(CONF_ARGON2_MEMLIMIT_KIB) * 1024) != 0)
		return 1;
	t0 = now();
	for (int i = 0; i < procs; i++) {
		if (pipe(fds[i]) != 0)
			return 1;
		if (fork() == 0) {
			char h[PWHASH_STRBYTES];
			long n = 0;
			while (now() - t0 < secs) {
				if (pwhash_hash(h, "TestPassword123!", 16) != 0)
					_exit(1);
				n++;
			}
			if (write(fds[i][1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < procs; i++) {
		long n = 0;
		if (read(fds[i][0], &n, sizeof(n)) == sizeof(n))
			total += n;
		wait(NULL);
	}
	printf("%.1f\n", total / (now() - t0));
	return 0;
}
