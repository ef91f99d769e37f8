/* reload: try a configuration in a child, then take it. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "reload.h"

#define RELOAD_TRY_SECONDS 30

/* The file, then the log's level and destination. */
int reload_conf(const char *file, unsigned programs, char *err, size_t errlen)
{
	enum log_level lvl;

	if (conf_load(file, programs, err, errlen) != 0)
		return -1;
	if (log_level_parse(conf_str(CONF_LOG_LEVEL), &lvl) == 0)
		log_set_level(lvl);
	if (strcmp(conf_str(CONF_LOG_FILE), log_path()) != 0 &&
	    log_open(conf_str(CONF_LOG_FILE)) != 0) {
		snprintf(err, errlen, "key 'log_file': cannot open '%s': %s",
			 conf_str(CONF_LOG_FILE), strerror(errno));
		return -1;
	}
	return 0;
}

/* The child's side: load, report on fd, exit. */
static _Noreturn void try_child(int fd, const char *file, unsigned programs, reload_fn load)
{
	char err[512] = "";
	sigset_t alrm;
	int rc;

	/* a load that hangs (a FIFO for a key file, a dead NFS mount) ends */
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	alarm(RELOAD_TRY_SECONDS);
	rc = reload_conf(file, programs, err, sizeof(err));
	if (rc == 0 && load)
		rc = load(err, sizeof(err));
	if (rc != 0 && write(fd, err, strlen(err)) < 0)
		rc = 2;
	_exit(rc == 0 ? 0 : 1);
}

/* Fork, let the child try, collect its verdict. */
int reload_try(const char *file, unsigned programs, reload_fn load, char *err, size_t errlen)
{
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		try_child(p[1], file, programs, load);
	}
	close(p[1]);
	while (got + 1 < errlen && (n = read(p[0], err + got, errlen - 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	err[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		snprintf(err, errlen, "the check was killed by signal %d%s", WTERMSIG(st),
			 WTERMSIG(st) == SIGALRM ? " (took over 30 s)" : "");
	else if (!got)
		snprintf(err, errlen, "the check failed (exit %d)", WEXITSTATUS(st));
	return -1;
}
